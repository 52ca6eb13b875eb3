//! A typing and its `HLA-` spelling (the GL String standard's own) mean the same thing to
//! every engine: identical reductions, grades, imputations and search results, over real
//! alleles of the shipped release.

use std::sync::OnceLock;

use medulla_haplotypes::FrequencySet;
use medulla_matching::{search, ArdCatalog, DonorFacts, IndexedDonor, SearchIndex, SearchRequest};
use medulla_nomenclature::{MacTable, Reducer, Reduction, Release};
use medulla_prediction::{Imputer, NmdpGroups, Resolution};
use proptest::prelude::*;

const LOCI: [&str; 5] = ["A", "B", "C", "DRB1", "DQB1"];

struct World {
    reducer: Reducer<'static>,
    alleles: Vec<Vec<String>>,
}

fn world() -> &'static World {
    static R: OnceLock<Release> = OnceLock::new();
    static M: OnceLock<MacTable> = OnceLock::new();
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let release = R.get_or_init(Release::shipped);
        let reducer = Reducer::new(release, M.get_or_init(MacTable::shipped));
        let alleles = LOCI
            .iter()
            .map(|l| {
                release
                    .allele_names()
                    .into_iter()
                    .filter(|n| n.starts_with(&format!("{l}*")) && !n.ends_with('N'))
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        World { reducer, alleles }
    })
}

/// One position written as a full name, a two-field shortening or an XX code.
fn written(name: &str, form: u8) -> String {
    let mut fields = name.split(':');
    let first = fields.next().unwrap_or_default();
    match form {
        0 => name.to_string(),
        1 => format!("{first}:{}", fields.next().unwrap_or("01")),
        _ => format!("{first}:XX"),
    }
}

fn prefixed(gl: &str) -> String {
    gl.split('^')
        .map(|l| {
            l.split('+')
                .map(|p| {
                    p.split('/')
                        .map(|t| format!("HLA-{t}"))
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join("^")
}

fn typing_strategy() -> impl Strategy<Value = [[String; 2]; 5]> {
    let w = world();
    let locus = |i: usize| {
        let n = w.alleles[i].len();
        (0..n, 0..n, 0u8..3, 0u8..2).prop_map(move |(a, b, fa, fb)| {
            let w = world();
            [written(&w.alleles[i][a], fa), written(&w.alleles[i][b], fb)]
        })
    };
    (locus(0), locus(1), locus(2), locus(3), locus(4)).prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
}

fn gl_of(t: &[[String; 2]; 5]) -> String {
    t.iter()
        .map(|p| format!("{}+{}", p[0], p[1]))
        .collect::<Vec<_>>()
        .join("^")
}

fn donor(id: &str, t: &[[String; 2]; 5], prefix: bool) -> IndexedDonor {
    let mut typing: [[Option<String>; 2]; 6] = Default::default();
    for (l, pair) in t.iter().enumerate() {
        for p in 0..2 {
            typing[l][p] = Some(if prefix {
                format!("HLA-{}", pair[p])
            } else {
                pair[p].clone()
            });
        }
    }
    IndexedDonor {
        facts: DonorFacts {
            id: id.into(),
            registry: "TEST".into(),
            searchable: true,
            ..DonorFacts::default()
        },
        typing,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn prefix_changes_nothing(t in typing_strategy(), other in typing_strategy()) {
        let w = world();
        let bare = gl_of(&t);
        let pre = prefixed(&bare);

        // reductions: the same names, the prefix aside
        for level in [Reduction::G, Reduction::P, Reduction::Lgx, Reduction::S] {
            let a = w.reducer.reduce(&bare, level).unwrap();
            let b = w.reducer.reduce(&pre, level).unwrap();
            prop_assert_eq!(&a, &b.replace("HLA-", ""));
        }

        // grades: the same ARD identities per position
        let mut catalog = ArdCatalog::new(&w.reducer);
        for pair in &t {
            for p in pair {
                let a = catalog.position(p).unwrap();
                let b = catalog.position(&format!("HLA-{p}")).unwrap();
                prop_assert_eq!(a, b);
            }
        }

        // search: a patient finds a donor however either is spelled, with the same grades
        let donors = vec![
            donor("BARE", &t, false),
            donor("PREFIXED", &t, true),
            donor("OTHER", &other, false),
            donor("OTHER-PREFIXED", &other, true),
        ];
        let index = SearchIndex::build(&mut catalog, donors);
        let patient = |prefix: bool| {
            let mut p: [[Option<String>; 2]; 6] = Default::default();
            for (l, pair) in t.iter().enumerate() {
                for i in 0..2 {
                    p[l][i] = Some(if prefix { format!("HLA-{}", pair[i]) } else { pair[i].clone() });
                }
            }
            p
        };
        let run = |prefix: bool, catalog: &mut ArdCatalog<'_>| {
            let r = search(&index, catalog, &SearchRequest::ten_of_ten(patient(prefix), 10, 20_000)).unwrap();
            let mut rows: Vec<(String, String)> = r
                .hits
                .iter()
                .map(|h| (index.id(h.donor).trim_end_matches("-PREFIXED").replace("PREFIXED", "BARE"), format!("{:?}", h.grades)))
                .collect();
            rows.sort();
            rows
        };
        let a = run(false, &mut catalog);
        let b = run(true, &mut catalog);
        prop_assert_eq!(&a, &b);
        // the donor typed as the patient is found both ways, certain everywhere
        prop_assert!(a.iter().filter(|(id, _)| id == "BARE").count() == 2);
    }

    #[test]
    fn prefix_changes_no_imputation(t in typing_strategy()) {
        let w = world();
        static SET: OnceLock<(FrequencySet, Resolution)> = OnceLock::new();
        let (set, res) = SET.get_or_init(|| (FrequencySet::nmdp_2007(), Resolution::NmdpG(NmdpGroups::nmdp_2007())));
        // two-field typings (XX codes expand too far for a quick property)
        let t2: [[String; 2]; 5] = std::array::from_fn(|l| [written(&t[l][0], 1), written(&t[l][1], 1)]);
        let bare = gl_of(&t2);
        let pre = prefixed(&bare);
        let imputer = Imputer::new(&w.reducer, res, set);
        let model = imputer.model(Some("EUR")).unwrap();
        let run = |gl: &str| -> String {
            match imputer.typing(gl).and_then(|ty| imputer.impute(model, &ty, Some(20))) {
                Ok(r) => r.genotypes.iter().map(|g| format!("{:?}{:.12}", g.haplotypes, g.probability)).collect::<Vec<_>>().join(";"),
                Err(e) => format!("error: {e}"),
            }
        };
        prop_assert_eq!(run(&bare), run(&pre));
        prop_assert_eq!(imputer.convert_gl(&bare).ok(), imputer.convert_gl(&pre).ok());
    }
}
