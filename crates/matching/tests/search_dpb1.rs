//! DPB1 is scored with its TCE verdict, not filtered.

use medulla_matching::{
    search, ArdCatalog, DonorFacts, Dpb1Tce, IndexedDonor, SearchIndex, SearchRequest,
};
use medulla_nomenclature::{MacTable, Reducer, Release};

fn donor(id: &str, dpb1: [&str; 2]) -> IndexedDonor {
    let s = |x: &str| Some(x.to_string());
    IndexedDonor {
        facts: DonorFacts {
            id: id.into(),
            cord: false,
            birth_day: Some(7000),
            male: Some(true),
            cmv_positive: Some(false),
            abo: Some("O".into()),
            searchable: true,
            ..DonorFacts::default()
        },
        typing: [
            [s("A*01:01"), s("A*02:01")],
            [s("B*08:01"), s("B*44:02")],
            [s("C*07:01"), s("C*05:01")],
            [s("DRB1*03:01"), s("DRB1*04:01")],
            [s("DQB1*02:01"), s("DQB1*03:01")],
            [
                (!dpb1[0].is_empty()).then(|| dpb1[0].to_string()),
                (!dpb1[1].is_empty()).then(|| dpb1[1].to_string()),
            ],
        ],
    }
}

#[test]
fn dpb1_verdicts_follow_the_tce_groups() {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let mut catalog = ArdCatalog::new(&reducer);
    // patient DPB1*04:01 (group 3) + DPB1*02:01 (group 3)
    let donors = vec![
        donor("same", ["DPB1*04:01", "DPB1*02:01"]),
        donor("permissive", ["DPB1*04:01", "DPB1*04:02"]), // 04:02 is group 3
        donor("hvg", ["DPB1*04:01", "DPB1*09:01"]),        // 09:01 group 1 in the donor
        donor("untyped", ["", ""]),
    ];
    let index = SearchIndex::build(&mut catalog, donors.clone());
    let patient = donors[0].typing.clone();
    let mut req = SearchRequest::ten_of_ten(patient, 0, 20000);
    req.limit = 10;
    let r = search(&index, &mut catalog, &req).unwrap();
    assert_eq!(r.total, 4, "DPB1 does not filter");
    let verdict = |id: &str| {
        r.hits
            .iter()
            .find(|h| index.id(h.donor) == id)
            .unwrap()
            .dpb1
    };
    assert_eq!(verdict("same"), Dpb1Tce::Matched);
    assert_eq!(verdict("permissive"), Dpb1Tce::Permissive);
    assert_eq!(verdict("hvg"), Dpb1Tce::NonPermissiveHvg);
    assert_eq!(verdict("untyped"), Dpb1Tce::Unknown);
    // with DPB1 counted: x/12 when both sides are typed there
    let hit = |id: &str| r.hits.iter().find(|h| index.id(h.donor) == id).unwrap();
    assert_eq!(hit("same").with_dpb1(), Some((12, 12)));
    assert_eq!(hit("hvg").with_dpb1(), Some((11, 12)));
    assert_eq!(hit("untyped").with_dpb1(), None);
}
