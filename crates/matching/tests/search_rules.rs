//! Search filters, ranking order, cord cell dose, mismatch direction and incremental
//! index updates, on hand-made donors with real 3.58.0 typings.

use medulla_matching::{
    search, ArdCatalog, Comparison, DonorFacts, IndexedDonor, MismatchCount, SearchIndex,
    SearchRequest, SearchResult,
};
use medulla_nomenclature::{MacTable, Reducer, Release};

const TODAY: i32 = 20_000; // 2024-10-04

fn s(x: &str) -> Option<String> {
    (!x.is_empty()).then(|| x.to_string())
}

/// A patient A*01:01+A*02:01 B*08:01+B*44:02 C*07:01+C*05:01 DRB1*03:01+DRB1*04:01
/// DQB1*02:01+DQB1*03:01.
fn patient() -> [[Option<String>; 2]; 6] {
    [
        [s("A*01:01"), s("A*02:01")],
        [s("B*08:01"), s("B*44:02")],
        [s("C*07:01"), s("C*05:01")],
        [s("DRB1*03:01"), s("DRB1*04:01")],
        [s("DQB1*02:01"), s("DQB1*03:01")],
        [None, None],
    ]
}

fn donor(id: &str, a: [&str; 2], facts: DonorFacts) -> IndexedDonor {
    let mut typing = patient();
    typing[0] = [s(a[0]), s(a[1])];
    IndexedDonor {
        facts: DonorFacts {
            id: id.into(),
            ..facts
        },
        typing,
    }
}

fn adult(age_years: i32, male: bool) -> DonorFacts {
    DonorFacts {
        registry: "DE".into(),
        population: Some("EUR".into()),
        birth_day: Some(TODAY - age_years * 365 - age_years / 4 - 10),
        male: Some(male),
        cmv_positive: Some(false),
        abo: Some("O".into()),
        searchable: true,
        ..DonorFacts::default()
    }
}

struct Env {
    release: Release,
    macs: MacTable,
}

fn run(env: &Env, donors: &[IndexedDonor], req: &SearchRequest) -> (SearchResult, Vec<String>) {
    let reducer = Reducer::new(&env.release, &env.macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let index = SearchIndex::build(&mut catalog, donors.to_vec());
    let r = search(&index, &mut catalog, req).unwrap();
    let ids = r
        .hits
        .iter()
        .map(|h| index.id(h.donor).to_string())
        .collect();
    (r, ids)
}

fn env() -> Env {
    Env {
        release: Release::shipped(),
        macs: MacTable::shipped(),
    }
}

fn request(mismatches: u8) -> SearchRequest {
    let mut r = SearchRequest::ten_of_ten(patient(), mismatches, TODAY);
    r.limit = 100;
    r
}

const MATCH: [&str; 2] = ["A*01:01", "A*02:01"];

#[test]
fn ranking_goes_by_mismatches_certainty_age_band_cmv_sex_then_abo() {
    let e = env();
    let mut cmv_pos = adult(25, true);
    cmv_pos.cmv_positive = Some(true);
    let mut abo_a = adult(25, true);
    abo_a.abo = Some("A".into());
    let donors = vec![
        donor("mismatch-young", ["A*01:01", "A*03:01"], adult(19, true)),
        donor("potential-young", ["A*01:01", "A*02:XX"], adult(19, true)),
        donor("old", MATCH, adult(52, true)),
        donor("female", MATCH, adult(25, false)),
        donor("cmv-pos", MATCH, cmv_pos),
        donor("abo-a", MATCH, abo_a),
        donor("best", MATCH, adult(26, true)),
    ];
    let mut req = request(1);
    req.patient_facts.cmv_positive = Some(false);
    req.patient_facts.abo = Some("O".into());
    let (r, ids) = run(&e, &donors, &req);
    assert_eq!(
        ids,
        [
            "best",
            "abo-a",
            "female",
            "cmv-pos",
            "old",
            "potential-young",
            "mismatch-young"
        ]
    );
    assert_eq!(r.hits[1].abo, Comparison::Different);
    assert_eq!(r.hits[3].cmv, Comparison::Different);
    // the explanation names each criterion in order
    let why = r.hits[6].explain(&r.loci);
    assert_eq!(why[0], "9/10: antigen mm A");
    assert_eq!(why[2], "age 15-19");
    let why = r.hits[5].explain(&r.loci);
    assert_eq!(why[1], "1 potential (A)");
    assert_eq!(r.hits[0].explain(&r.loci)[..2], ["10/10", "all certain"]);
}

#[test]
fn filters_narrow_the_pool() {
    let e = env();
    let mut nl = adult(30, false);
    nl.registry = "NL".into();
    nl.population = Some("AFA".into());
    nl.cmv_positive = Some(true);
    nl.abo = Some("AB".into());
    let mut away = adult(30, true);
    away.searchable = false;
    let donors = vec![
        donor("de-20", MATCH, adult(20, true)),
        donor("de-45", MATCH, adult(45, true)),
        donor("nl", MATCH, nl),
        donor("unavailable", MATCH, away),
    ];
    let ids = |f: &dyn Fn(&mut SearchRequest)| {
        let mut req = request(0);
        f(&mut req);
        let mut v = run(&e, &donors, &req).1;
        v.sort();
        v
    };
    assert_eq!(ids(&|_| {}), ["de-20", "de-45", "nl"]);
    assert_eq!(
        ids(&|r| r.filters.include_unavailable = true),
        ["de-20", "de-45", "nl", "unavailable"]
    );
    assert_eq!(
        ids(&|r| {
            r.filters.min_age = Some(25);
            r.filters.max_age = Some(40)
        }),
        ["nl"]
    );
    assert_eq!(ids(&|r| r.filters.male = Some(false)), ["nl"]);
    assert_eq!(
        ids(&|r| r.filters.cmv_positive = Some(false)),
        ["de-20", "de-45"]
    );
    assert_eq!(ids(&|r| r.filters.abo = vec!["AB".into()]), ["nl"]);
    assert_eq!(
        ids(&|r| r.filters.registries = vec!["DE".into()]),
        ["de-20", "de-45"]
    );
    assert_eq!(ids(&|r| r.filters.populations = vec!["AFA".into()]), ["nl"]);
    // a registry no donor belongs to finds nobody
    assert!(ids(&|r| r.filters.registries = vec!["XX".into()]).is_empty());
}

#[test]
fn cords_rank_by_class_then_cell_dose_per_kg() {
    let e = env();
    let cord = |tnc: f32| DonorFacts {
        cord: true,
        tnc_1e7: Some(tnc),
        registry: "DE".into(),
        birth_day: Some(TODAY - 400),
        searchable: true,
        ..DonorFacts::default()
    };
    let donors = vec![
        donor("small", MATCH, cord(90.0)),
        donor("big-mismatched", ["A*01:01", "A*03:01"], cord(300.0)),
        donor("big", MATCH, cord(200.0)),
        donor("adult", MATCH, adult(30, true)),
    ];
    let mut req = request(1);
    req.cord = Some(true);
    req.patient_facts.weight_kg = Some(40.0);
    let (r, ids) = run(&e, &donors, &req);
    assert_eq!(ids, ["big", "small", "big-mismatched"]);
    assert!((r.hits[0].cell_dose.unwrap() - 5.0).abs() < 1e-6);
    assert_eq!(r.hits[0].explain(&r.loci)[2], "5.0e7 TNC/kg");
}

#[test]
fn mismatches_can_be_counted_in_one_direction() {
    let e = env();
    let mut p = patient();
    p[0] = [s("A*01:01"), s("A*01:01")]; // homozygous patient
    let donors = vec![
        donor("hvg-only", ["A*01:01", "A*03:01"], adult(30, true)),
        donor("both", ["A*03:01", "A*03:01"], adult(30, true)),
    ];
    let mut req = request(0);
    req.patient = p;
    assert!(run(&e, &donors, &req).1.is_empty());
    req.count = MismatchCount::GraftVersusHost;
    let (r, ids) = run(&e, &donors, &req);
    assert_eq!(ids, ["hvg-only"]);
    assert_eq!(r.hits[0].mismatches, 0);
    assert_eq!(
        r.hits[0].matched, 9,
        "the match count still shows the mismatch"
    );
    assert_eq!(r.hits[0].explain(&r.loci)[0], "9/10: antigen mm A HvG only");
}

#[test]
fn the_index_takes_new_changed_and_removed_donors_without_a_rebuild() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let mut index = SearchIndex::build(
        &mut catalog,
        vec![
            donor("d1", MATCH, adult(30, true)),
            donor("d2", ["A*01:01", "A*03:01"], adult(30, true)),
        ],
    );
    let req = request(0);
    let ids = |index: &SearchIndex, catalog: &mut ArdCatalog<'_>| {
        let r = search(index, catalog, &req).unwrap();
        let mut v: Vec<String> = r.hits.iter().map(|h| index.id(h.donor).into()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&index, &mut catalog), ["d1"]);
    // d2 retyped to a match, d3 new (with a typing the index has not seen), d1 removed
    index
        .upsert(&mut catalog, &donor("d2", MATCH, adult(30, true)))
        .unwrap();
    index
        .upsert(
            &mut catalog,
            &donor("d3", ["A*01:01:01:01", "A*02:01:01:01"], adult(40, false)),
        )
        .unwrap();
    assert!(index.remove("d1"));
    assert!(!index.remove("nobody"));
    assert_eq!(ids(&index, &mut catalog), ["d2", "d3"]);
    assert_eq!(index.facts(2).male, Some(false));
    // an unreadable typing leaves the donor as it was
    let err = index
        .upsert(
            &mut catalog,
            &donor("d2", ["A*01:01", "A*99:99"], adult(30, true)),
        )
        .unwrap_err();
    assert!(err.contains("A*99:99"), "{err}");
    assert_eq!(ids(&index, &mut catalog), ["d2", "d3"]);
    assert_eq!(index.len(), 3);
}

#[test]
fn probabilities_rank_in_10_percent_bands_within_a_mismatch_count() {
    use medulla_matching::{rank_with_probabilities, HitProbabilities};
    let e = env();
    let donors = vec![
        donor("certain", MATCH, adult(50, false)),
        donor("p95-few", ["A*01:01", "A*02:AB"], adult(20, true)),
        donor("p97-more", ["A*01:XX", "A*02:XX"], adult(20, true)),
        donor("p55", ["A*01:01", "A*02:XX"], adult(20, true)),
        donor("unexplained", ["A*01:01", "A*02:XX"], adult(21, true)),
        donor("mismatched", ["A*01:01", "A*03:01"], adult(20, true)),
    ];
    let (mut r, ids) = run(&e, &donors, &request(1));
    let p = |p10: f64| HitProbabilities {
        p0: [None; 6],
        p_10of10: p10,
        p_9of10: 1.0 - p10,
        p_8of8: p10,
        p_8of10: 0.0,
    };
    for (h, id) in r.hits.iter_mut().zip(&ids) {
        h.probabilities = match id.as_str() {
            "certain" => Some(p(1.0)),
            "p95-few" => Some(p(0.95)),
            "p97-more" => Some(p(0.97)),
            "p55" => Some(p(0.55)),
            "mismatched" => Some(p(0.0)),
            _ => None,
        };
    }
    let before: Vec<usize> = r.hits.iter().map(|h| h.donor).collect();
    rank_with_probabilities(&mut r.hits, &r.loci);
    let order: Vec<&str> = r
        .hits
        .iter()
        .map(|h| ids[before.iter().position(|&d| d == h.donor).unwrap()].as_str())
        .collect();
    // 100% first (even though older and female); 95% and 97% share the 90% band, so
    // fewer potential positions first; then 55%; then no probability; the 1-mismatch
    // donor last whatever its probability (it is at least a 9/10 for sure: P = 1)
    assert_eq!(
        order,
        [
            "certain",
            "p95-few",
            "p97-more",
            "p55",
            "unexplained",
            "mismatched"
        ]
    );
}

#[test]
fn a_search_past_its_deadline_is_stopped_and_one_within_it_is_not() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let donors = vec![donor("match", MATCH, adult(30, true))];
    let index = SearchIndex::build(&mut catalog, donors);
    let mut req = request(0);
    // a deadline of 0 ms has passed before the scan's first look at the clock
    req.deadline = Some(medulla_matching::Deadline::after_ms(0));
    match search(&index, &mut catalog, &req) {
        Err(medulla_matching::SearchError::Deadline { ms: 0 }) => {}
        other => panic!("expected the deadline, got {other:?}"),
    }
    req.deadline = Some(medulla_matching::Deadline::after_ms(60_000));
    let r = search(&index, &mut catalog, &req).unwrap();
    assert_eq!(r.total, 1);
}
