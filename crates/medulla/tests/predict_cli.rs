//! `medulla impute`, `medulla predict` and match probabilities on search hits.

mod common;
use common::{medulla, text, with_stdin, TempDir};

const SET: &str = "haplotype,frequency
A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,0.5
A*02:01~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01,0.3
A*02:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,0.2
";

#[test]
fn impute_lists_genotypes_with_posteriors_in_the_documented_format() {
    let d = TempDir::new("impute");
    let set = d.file("X.csv", SET);
    let o = with_stdin(
        &["impute", "--freqs", &set, "--population", "X"],
        "D1%A*02:01+A*02:01\nD2%A*03:01+A*01:01\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // h2h3 .12, h2h2 .09, h3h3 .04 over .25
    let f: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&f[..2], ["D1", "1"]);
    assert!(f[2].starts_with("A*02:01~") && f[3].starts_with("A*02:01~"));
    let p: f64 = f[4].parse().unwrap();
    assert!((p - 0.48).abs() < 1e-6, "{p}");
    let p3: f64 = lines[2].split(',').nth(4).unwrap().parse().unwrap();
    assert!((p3 - 0.16).abs() < 1e-6);
    // the unexplained typing is named with its locus, on standard error
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("D2: unrepresented") && err.contains("at A"),
        "{err}"
    );
    // a truncated list says how much it dropped
    let o = with_stdin(
        &["impute", "--freqs", &set, "--max-genotypes", "1"],
        "D1%A*02:01+A*02:01\n",
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("probability mass dropped 0.52"),
        "{}",
        text(&o)
    );
}

#[test]
fn predict_writes_one_row_per_pair_with_status() {
    let d = TempDir::new("predict");
    let set = d.file("X.csv", SET);
    let patients = d.file(
        "patients.txt",
        "P1%A*01:01+A*02:01^C*07:01+C*05:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01\n",
    );
    let donors = d.file(
        "donors.txt",
        "D1%A*01:01/A*02:01+A*02:01^C*07:01+C*05:01\nD2%A*11:01+A*11:01\n",
    );
    let o = medulla(&[
        "predict",
        "--freqs",
        &set,
        "--patients",
        &patients,
        "--donors",
        &donors,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "patient_id,donor_id,p0_a,p0_b,p0_c,p0_drb1,p0_dqb1,p_8of8,p_9of10,p_10of10,status"
    );
    // D1 is h1/h2 (5/7) or h3/h2 (2/7, one A mismatch)
    assert_eq!(
        lines[1],
        "P1,D1,0.714286,1.000000,1.000000,1.000000,1.000000,0.714286,0.285714,0.714286,ok"
    );
    assert_eq!(lines[2], "P1,D2,,,,,,,,,unrepresented:donor");
}

#[test]
fn search_hits_carry_match_probabilities() {
    let d = TempDir::new("search-prob");
    let pool = d.0.join("pool.csv").display().to_string();
    assert!(medulla(&[
        "synth", "--donors", "2000", "--seed", "3", "--mix", "EUR=1", "--out", &pool
    ])
    .status
    .success());
    let o = medulla(&[
        "search",
        "--donors",
        &pool,
        "--patient",
        "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01",
        "--mismatches",
        "2",
        "--patient-population",
        "EUR",
        "--format",
        "json",
        "--date",
        "2026-01-01",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hits = json["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    let with: Vec<&serde_json::Value> = hits
        .iter()
        .filter(|h| h["probabilities"].is_object())
        .collect();
    assert!(
        with.len() * 10 >= hits.len() * 9,
        "most hits have probabilities"
    );
    for h in &with {
        let p10 = h["probabilities"]["p_10of10"].as_f64().unwrap();
        assert!((0.0..=1.0 + 1e-9).contains(&p10));
        // a certain mismatch cannot be a 10/10
        if h["mismatches"].as_u64().unwrap() > 0 && h["potential"].as_u64().unwrap() == 0 {
            assert!(p10 < 1e-9, "{h}");
        }
    }
    // ranks: within a mismatch count, higher probability band first (10% bands)
    let band = |h: &serde_json::Value| {
        (h["probabilities"]["p_10of10"].as_f64().unwrap() * 10.0 + 1e-9).floor() as i64
    };
    for w in with.windows(2) {
        let mm = |h: &serde_json::Value| h["mismatches"].as_u64().unwrap();
        if mm(w[0]) == mm(w[1]) && mm(w[0]) == 0 {
            assert!(band(w[0]) >= band(w[1]), "{} before {}", w[0], w[1]);
        }
    }
}
