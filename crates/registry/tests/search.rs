//! Searching synthetic registries.

mod common;
use common::env;

use chrono::NaiveDate;
use medulla_matching::{search, ArdCatalog, PositionGrade, SearchIndex, SearchRequest};
use medulla_nomenclature::Reducer;
use medulla_registry::search_index::{day_number, indexed};
use medulla_registry::synth::Resolution;
use medulla_registry::{Status, SynthConfig, Synthesizer};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
}

#[test]
fn a_donor_searched_with_its_own_high_resolution_typing_comes_first_as_10_of_10() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let s = Synthesizer::new(
        SynthConfig {
            seed: 31,
            ..SynthConfig::default()
        },
        &e.freqs,
        &e.release,
        &e.macs,
    )
    .unwrap();
    let donors: Vec<_> = (0..4000).map(|i| s.donor(i)).collect();
    let index = SearchIndex::build(
        &mut catalog,
        donors
            .iter()
            .map(|d| indexed(&d.donor, &Status::Available, today())),
    );
    assert_eq!(index.len(), 4000);
    assert!(index.skipped.is_empty(), "{:?}", index.skipped.first());
    let mut checked = 0;
    for (i, d) in donors
        .iter()
        .enumerate()
        .filter(|(_, d)| d.resolution == Resolution::High)
        .take(60)
    {
        let mut patient: [[Option<String>; 2]; 6] = Default::default();
        patient[..5].clone_from_slice(&indexed(&d.donor, &Status::Available, today()).typing[..5]);
        let mut req = SearchRequest::ten_of_ten(patient, 0, day_number(today()));
        req.limit = 5000;
        let r = search(&index, &mut catalog, &req).unwrap();
        let first = &r.hits[0];
        assert_eq!(first.mismatches, 0);
        assert_eq!((first.matched, first.out_of), (10, 10));
        // itself is among the best: no mismatch and no potential match
        let own = r
            .hits
            .iter()
            .find(|h| h.donor == i)
            .expect("the donor finds itself");
        assert_eq!(own.potential, 0, "donor {i}");
        assert!(own.grades[..5]
            .iter()
            .all(|g| g.positions == [PositionGrade::AlleleMatch; 2]));
        assert_eq!(first.potential, 0);
        checked += 1;
    }
    assert!(checked >= 50);
}

#[test]
fn mismatch_limits_filters_and_ranking() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let s = Synthesizer::new(
        SynthConfig {
            seed: 8,
            ..SynthConfig::default()
        },
        &e.freqs,
        &e.release,
        &e.macs,
    )
    .unwrap();
    let donors: Vec<_> = (0..3000).map(|i| s.donor(i).donor).collect();
    let mut statuses = vec![Status::Available; donors.len()];
    statuses[0] = Status::PermanentlyUnavailable {
        reason: medulla_registry::PermanentReason::Withdrew,
    };
    let index = SearchIndex::build(
        &mut catalog,
        donors
            .iter()
            .zip(&statuses)
            .map(|(d, st)| indexed(d, st, today())),
    );
    let patient = indexed(&donors[0], &Status::Available, today()).typing;
    let mut p: [[Option<String>; 2]; 6] = Default::default();
    p[..5].clone_from_slice(&patient[..5]);
    let (mut zero, mut two) = (
        SearchRequest::ten_of_ten(p.clone(), 0, day_number(today())),
        SearchRequest::ten_of_ten(p, 2, day_number(today())),
    );
    zero.limit = 10_000;
    two.limit = 10_000;
    let r0 = search(&index, &mut catalog, &zero).unwrap();
    let r2 = search(&index, &mut catalog, &two).unwrap();
    // a withdrawn donor is never found, not even by its own typing
    assert!(r0.hits.iter().all(|h| h.donor != 0));
    assert!(r2.total >= r0.total);
    assert!(r2
        .hits
        .iter()
        .all(|h| h.mismatches <= 2 && h.grades[..5].iter().all(|g| g.mismatches() <= 2)));
    // ranked by mismatches, then potential matches, then age band (adults)
    let mut adults_only = two.clone();
    adults_only.cord = Some(false);
    let r2a = search(&index, &mut catalog, &adults_only).unwrap();
    for w in r2a.hits.windows(2) {
        let k = |h: &medulla_matching::SearchHit| {
            (
                h.mismatches,
                h.potential,
                h.age.map_or(31, |a| (a / 5).min(30)),
            )
        };
        assert!(k(&w[0]) <= k(&w[1]));
    }
    // adults only / cords only partition the results
    let mut adults = two.clone();
    adults.cord = Some(false);
    let mut cords = two.clone();
    cords.cord = Some(true);
    let (ra, rc) = (
        search(&index, &mut catalog, &adults).unwrap(),
        search(&index, &mut catalog, &cords).unwrap(),
    );
    assert_eq!(ra.total + rc.total, r2.total);
    // the patient must be typed at A, B, DRB1
    let mut bad = zero.clone();
    bad.patient[3] = [None, None];
    assert!(search(&index, &mut catalog, &bad)
        .unwrap_err()
        .to_string()
        .contains("DRB1"));
}

#[test]
fn a_donor_file_is_indexed_only_as_import_reads_it() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let validator = medulla_registry::validate::RecordValidator::new(&reducer, today());
    let header = "id;registry;donor_type;birth_date;status;A_1;A_2;B_1;B_2;DRB1_1;DRB1_2";
    let typing = "A*01:01;A*02:01;B*08:01;B*44:02;DRB1*03:01;DRB1*15:01";
    let file = format!(
        "{header}\r\nD1;REG;adult;1990-01-01;;{typing}\r\nD2;REG;adult;1990-01-01;sleeping;{typing}\r\n\
         D3;REG;adult;2015-01-01;;{typing}\r\nD1;REG;adult;1990-01-01;;{typing}\r\n\
         D4;REG;adult;1990-01-01;permanently-unavailable;{typing}\r\n"
    );
    let mut catalog = ArdCatalog::new(&reducer);
    let mut rejected = Vec::new();
    let index = medulla_registry::search_index::index_csv(
        &mut catalog,
        file.as_bytes(),
        &validator,
        "d.csv",
        None,
        today(),
        &mut |j| rejected.push((j.line, j.id, j.error.field)),
    )
    .unwrap();
    // D1 and D4 indexed (D4 not searchable); D2 a bad status, D3 a child, D1 twice
    assert_eq!(index.len(), 2);
    assert_eq!(
        rejected,
        vec![
            (3, "D2".to_string(), "status".to_string()),
            (4, "D3".to_string(), "birth_date".to_string()),
            (5, "D1".to_string(), "id".to_string()),
        ]
    );
    let pair = |a: &str, b: &str| [Some(a.to_string()), Some(b.to_string())];
    let patient = [
        pair("A*01:01", "A*02:01"),
        pair("B*08:01", "B*44:02"),
        [None, None],
        pair("DRB1*03:01", "DRB1*15:01"),
        [None, None],
        [None, None],
    ];
    let mut request = SearchRequest::ten_of_ten(patient, 4, day_number(today()));
    request.limit = 10;
    // D4 is permanently unavailable: only D1 is found
    let hits = search(&index, &mut catalog, &request).unwrap();
    assert_eq!(hits.hits.len(), 1);
    // a header read with the wrong delimiter is refused, naming the right one
    let err = medulla_registry::search_index::index_csv(
        &mut catalog,
        file.as_bytes(),
        &validator,
        "d.csv",
        Some(b','),
        today(),
        &mut |_| {},
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("give --delimiter ';'"), "{err}");
}
