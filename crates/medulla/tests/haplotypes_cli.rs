//! `medulla haplotypes estimate` and `compare`: frequencies estimated from synthetic
//! donors drawn from the NMDP 2007 EUR haplotypes at `medulla synth`'s typing mix (MACs,
//! XX codes, untyped loci), against the truth, and read back by `medulla likelihood`.

mod common;

use common::{medulla, text, TempDir};
use serde_json::Value;

#[test]
fn estimated_from_ambiguous_typings_close_to_the_truth_and_read_back() {
    let dir = TempDir::new("haplotypes-em");
    let csv = dir.path("donors.csv");
    let out = dir.path("EURX.csv");
    let o = medulla(&[
        "synth", "--donors", "4000", "--mix", "EUR=1", "--cords", "0", "--seed", "3", "--out", &csv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&["haplotypes", "estimate", "--donors", &csv, "--out", &out]);
    assert!(o.status.success(), "{}", text(&o));
    let report = text(&o);
    // most donors used, the ambiguous ones through the known haplotypes
    let count = |label: &str| -> usize {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {report}"))
    };
    assert_eq!(count("read"), 4000);
    assert!(count("used") > 3000, "{report}");
    assert!(count("explained by known haplotypes") > 1000, "{report}");
    assert!(report.contains("Log-likelihood"));
    // the file: a header, then haplotype,frequency at two-field names, most frequent first
    let written = std::fs::read_to_string(&out).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("haplotype,frequency"));
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,"),
        "{first}"
    );
    // against the truth (NMDP 2007 EUR at the ARD)
    let o = medulla(&[
        "haplotypes",
        "compare",
        "--population",
        "EUR",
        "--estimate",
        &out,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tv = c["total_variation"].as_f64().unwrap();
    assert!(tv > 0.0 && tv < 0.4, "total variation {tv}");
    let top = &c["top"][0];
    assert!(
        (top["estimate"].as_f64().unwrap() - top["reference"].as_f64().unwrap()).abs() < 0.015,
        "{top}"
    );
    // read back as a frequency set by the likelihood
    let o = medulla(&[
        "likelihood",
        "--freqs",
        &out,
        "--resolution",
        "two-field",
        "--size",
        "100000",
        "--mix",
        "EURX=1",
        "--levels",
        "8/8",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let body = String::from_utf8_lossy(&o.stdout).to_string();
    let row = body.lines().nth(1).unwrap();
    assert!(row.starts_with("EURX,8/8,100000,"), "{body}");
    let l: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
    assert!(l > 0.2 && l < 0.9, "{l}");
}

#[test]
fn from_the_registry_database_by_population() {
    let dir = TempDir::new("haplotypes-db");
    let csv = dir.path("donors.csv");
    let db = dir.db("registry.db");
    let out = dir.path("AFA.csv");
    assert!(medulla(&[
        "synth",
        "--donors",
        "1500",
        "--mix",
        "EUR=0.5,AFA=0.5",
        "--cords",
        "0",
        "--out",
        &csv,
    ])
    .status
    .success());
    assert!(medulla(&["donors", "import", &csv, "--db", &db])
        .status
        .success());
    let o = medulla(&[
        "haplotypes",
        "estimate",
        "--db",
        &db,
        "--population",
        "afa",
        "--loci",
        "A,B,DRB1",
        "--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    let other: usize = t
        .lines()
        .find(|l| l.starts_with("skipped: another population"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(other > 500 && other < 1000, "{t}");
    let written = std::fs::read_to_string(&out).unwrap();
    let hap = written.lines().nth(1).unwrap().split(',').next().unwrap();
    let loci: Vec<&str> = hap
        .split('~')
        .map(|a| a.split('*').next().unwrap())
        .collect();
    assert_eq!(loci, ["A", "B", "DRB1"]);
}

#[test]
fn bad_requests_are_named() {
    let dir = TempDir::new("haplotypes-bad");
    let out = dir.path("x.csv");
    for (args, needle) in [
        (vec!["haplotypes", "estimate", "--out", &out], "--db"),
        (
            vec![
                "haplotypes",
                "estimate",
                "--donors",
                "nope.csv",
                "--out",
                &out,
            ],
            "nope.csv",
        ),
        (
            vec![
                "haplotypes",
                "estimate",
                "--donors",
                "nope.csv",
                "--loci",
                "A,XYZ",
                "--out",
                &out,
            ],
            "XYZ",
        ),
    ] {
        let o = medulla(&args);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        let t = text(&o);
        assert!(t.contains(needle), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}
