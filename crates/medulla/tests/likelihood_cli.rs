//! `medulla likelihood`, `medulla recruit` and `medulla bench-likelihood` on the command
//! line: the exact CSV layout, hand-computed figures through the CLI, the registry
//! database's donors, plots, errors, and agreement with a simulation searched by Medulla.

mod common;

use common::{medulla, text, TempDir};
use serde_json::Value;

/// Two populations small enough to compute by hand (see crates/population/tests/hand.rs):
/// X lists 0.9 of its haplotypes, Y all.
fn hand_sets(dir: &TempDir) -> (String, String) {
    let x = dir.file(
        "X.csv",
        "haplotype,frequency\n\
         A*01:01~C*01:02~B*08:01~DRB1*03:01~DQB1*02:01,0.5\n\
         A*02:01~C*01:02~B*08:01~DRB1*03:01~DQB1*05:01,0.3\n\
         A*01:01~C*07:01~B*07:02~DRB1*15:01~DQB1*02:01,0.1\n",
    );
    let y = dir.file(
        "Y.csv",
        "haplotype,frequency\n\
         A*01:01~C*01:02~B*08:01~DRB1*03:01~DQB1*02:01,0.6\n\
         A*24:02~C*04:01~B*35:01~DRB1*04:01~DQB1*03:02,0.4\n",
    );
    (x, y)
}

fn csv_rows(out: &str) -> Vec<(String, String, u64, f64)> {
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("population,level,registry_size,likelihood")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn hand_computed_figures_through_the_command_line() {
    let dir = TempDir::new("likelihood-hand");
    let (x, y) = hand_sets(&dir);
    // one donor of each population, everyone available
    let o = medulla(&[
        "likelihood",
        "--freqs",
        &x,
        "--freqs",
        &y,
        "--resolution",
        "two-field",
        "--size",
        "2",
        "--mix",
        "X=0.5,Y=0.5",
        "--availability",
        "1",
        "--levels",
        "10/10,7/8",
        "--mixed",
        "X+Y",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = csv_rows(&String::from_utf8_lossy(&o.stdout));
    let get = |p: &str, l: &str| {
        rows.iter()
            .find(|r| r.0 == p && r.1 == l)
            .unwrap_or_else(|| panic!("no row {p} {l}"))
            .3
    };
    assert_eq!(rows.len(), 3 * 2);
    assert!(rows.iter().all(|r| r.2 == 2));
    // X at 10/10: {h1,h1} is also Y's (0.36): 0.25 (1 - 0.75 x 0.64) + 0.3^2 + 0.1^2 +
    // 0.09^2 + 0.06^2 + 0.01^2
    assert!((get("X", "10/10") - 0.2418).abs() < 1e-6);
    // mixed X+Y with one donor of each: 0.312
    assert!((get("X+Y", "10/10") - 0.312).abs() < 1e-6);
    // X at 7/8 with one donor of X (0.3903) and one of Y (0.25 x 0.36 + 0.30 x 0.36 on
    // X's own {h1,h1} and {h1,h2}): 1 - (1 - pX)(1 - pY) per genotype
    let p7x = [0.55, 0.64, 0.16, 0.39, 0.16, 0.01];
    let p7y = [0.36, 0.36, 0.0, 0.0, 0.0, 0.0];
    let f = [0.25, 0.30, 0.10, 0.09, 0.06, 0.01];
    let want: f64 = (0..6)
        .map(|i| f[i] * (1.0 - (1.0 - p7x[i]) * (1.0 - p7y[i])))
        .sum();
    assert!((get("X", "7/8") - want).abs() < 1e-6, "{}", get("X", "7/8"));
    // the truncation is reported
    assert!(
        text(&o).contains("the other 19.00% are counted as unmatched"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_shipped_set_at_several_sizes_with_a_plot() {
    let dir = TempDir::new("likelihood-shipped");
    let svg = dir.path("l.svg");
    let o = medulla(&[
        "likelihood",
        "--levels",
        "8/8",
        "--sizes",
        "100000,1000000",
        "--format",
        "csv",
        "--plot",
        &svg,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = csv_rows(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(rows.len(), 4 * 2);
    for pop in ["EUR", "AFA", "API", "HIS"] {
        let small = rows
            .iter()
            .find(|r| r.0 == pop && r.2 == 100_000)
            .unwrap()
            .3;
        let big = rows
            .iter()
            .find(|r| r.0 == pop && r.2 == 1_000_000)
            .unwrap()
            .3;
        assert!(
            0.0 < small && small < big && big < 1.0,
            "{pop} {small} {big}"
        );
    }
    let eur = rows
        .iter()
        .find(|r| r.0 == "EUR" && r.2 == 1_000_000)
        .unwrap()
        .3;
    let afa = rows
        .iter()
        .find(|r| r.0 == "AFA" && r.2 == 1_000_000)
        .unwrap()
        .3;
    assert!(eur > 2.0 * afa, "EUR {eur} AFA {afa}");
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg"));
    for label in [
        "EUR 8/8",
        "AFA 8/8",
        "registry size",
        "patients with a donor",
    ] {
        assert!(plot.contains(label), "{label} missing from the plot");
    }
}

#[test]
fn the_registry_database_gives_the_mix() {
    let dir = TempDir::new("likelihood-db");
    let csv = dir.path("donors.csv");
    let db = dir.db("registry.db");
    let o = medulla(&[
        "synth",
        "--donors",
        "400",
        "--mix",
        "EUR=0.5,AFA=0.5",
        "--cords",
        "0",
        "--out",
        &csv,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&["donors", "import", &csv, "--db", &db]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&[
        "likelihood",
        "--db",
        &db,
        "--levels",
        "8/8",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reg = v["registry"].as_array().unwrap();
    let donors = |p: &str| {
        reg.iter()
            .find(|r| r["population"] == p)
            .map_or(0.0, |r| r["donors"].as_f64().unwrap())
    };
    let total = donors("EUR") + donors("AFA");
    assert!(total > 300.0 && total <= 400.0, "{total}");
    assert_eq!(donors("API"), 0.0);
    // the database's own size is the one size
    let rows = v["rows"].as_array().unwrap();
    assert!(rows
        .iter()
        .all(|r| r["registry_size"].as_u64() == Some(total.round() as u64)));
    // no database: a clear error, nothing created
    let missing = dir.path("none.db");
    let o = medulla(&["likelihood", "--db", &missing]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no registry database"), "{}", text(&o));
    assert!(!std::path::Path::new(&missing).exists());
}

#[test]
fn recruitment_on_the_hand_set() {
    let dir = TempDir::new("recruit-hand");
    let (x, y) = hand_sets(&dir);
    let svg = dir.path("r.svg");
    // patients of Y only: recruiting one donor, Y's own gains more
    let o = medulla(&[
        "recruit",
        "--freqs",
        &x,
        "--freqs",
        &y,
        "--resolution",
        "two-field",
        "--size",
        "0",
        "--mix",
        "X=0.5,Y=0.5",
        "--availability",
        "1",
        "--level",
        "10/10",
        "--budget",
        "1",
        "--steps",
        "1",
        "--weights",
        "X=0,Y=1",
        "--target",
        "Y=0.5",
        "--format",
        "json",
        "--plot",
        &svg,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let added = |p: &str| {
        v["allocation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["population"] == p)
            .unwrap()["recruit"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((added("X"), added("Y")), (0, 1));
    // Y's patients need two Y donors for 50% (0.3856 with one, 0.609856 with two)
    assert_eq!(v["target"]["donors_needed"], 2);
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("donors recruited"));
}

#[test]
fn bad_options_are_named() {
    for (args, needle) in [
        (vec!["likelihood", "--levels", "9/10"], "9/10"),
        (vec!["likelihood", "--mix", "ZZZ=1", "--size", "10"], "ZZZ"),
        (vec!["likelihood", "--availability", "1.5"], "availability"),
        (vec!["likelihood", "--mixed", "EUR"], "POP+POP"),
        (vec!["likelihood", "--sizes", "10,x"], "sizes"),
        (vec!["recruit", "--budget", "10"], "--db PATH, or --size N"),
    ] {
        let o = medulla(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains(needle), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}

#[test]
fn the_model_agrees_with_a_simulation_searched_by_medulla() {
    // EUR patients and registries of 300 and 3,000 donors drawn from the NMDP 2007 set,
    // each patient searched at 8/8 and 7/8 with the search engine
    let o = medulla(&[
        "bench-likelihood",
        "--populations",
        "EUR",
        "--sizes",
        "300,3000",
        "--patients",
        "600",
        "--registries",
        "3",
        "--levels",
        "8/8,7/8",
        "--availability",
        "0.5",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let z = r["z"].as_f64().unwrap();
        assert!(z.abs() < 4.0, "model and simulation disagree: {r}");
        assert!(r["simulated"].as_f64().unwrap() > 0.0, "{r}");
    }
}
