//! Issue 9: every command reads typings, databases, files and options the same way, and
//! no mistake gives a silent wrong or empty answer.

mod common;
use common::{medulla, text, TempDir};

const PATIENT: &str =
    "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";
const PATIENT_POTENTIAL: &str =
    "A*01:01/A*01:02+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";

/// A small registry file: adults and a cord with the patient's typing, written in
/// several forms (plain, `HLA-` prefixed, serology at A).
fn registry_csv(dir: &TempDir) -> String {
    let prefixed = PATIENT
        .split('^')
        .map(|l| {
            l.split('+')
                .map(|t| format!("HLA-{t}"))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join("^");
    let rows = [
        format!("D-PLAIN,SYNTH,adult,1990-01-01,M,O,neg,EUR,,{PATIENT}"),
        format!("D-PREFIX,SYNTH,adult,1991-01-01,F,A,pos,AFA,,{prefixed}"),
        format!("C-CORD,SYNTH,cord,2024-01-01,M,O,neg,EUR,150,{PATIENT}"),
        "D-SERO,SYNTH,adult,1985-01-01,M,B,neg,EUR,,A1+A2^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01"
            .to_string(),
        format!("D-POT,SYNTH,adult,2000-01-01,M,O,neg,EUR,,{PATIENT_POTENTIAL}"),
    ];
    dir.file(
        "reg.csv",
        &format!(
            "id,registry,donor_type,birth_date,sex,abo,cmv,population,tnc_1e7,gl\n{}\n",
            rows.join("\n")
        ),
    )
}

fn imported(dir: &TempDir) -> String {
    let db = dir.db("reg.db");
    let o = medulla(&["donors", "--db", &db, "import", &registry_csv(dir)]);
    assert!(o.status.success(), "{}", text(&o));
    db
}

fn search_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["search", "--format", "json", "--date", "2026-06-01"];
    all.extend(args);
    let o = medulla(&all);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["donor_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn prefixed_and_serology_typings_are_read_everywhere() {
    let dir = TempDir::new("coh-prefix");
    let db = imported(&dir);
    // a prefixed donor is stored without prefixes and graded certain against its own typing
    let o = medulla(&["donors", "--db", &db, "show", "D-PREFIX"]);
    let shown = text(&o);
    assert!(!shown.contains("HLA-"), "{shown}");
    let prefixed_patient = PATIENT.replace("A*", "HLA-A*").replace("B*", "HLA-B*");
    for patient in [PATIENT, prefixed_patient.as_str()] {
        let v = search_json(&["--db", &db, "--patient", patient, "--no-probabilities"]);
        let found = ids(&v);
        assert!(
            found.contains(&"D-PLAIN".into()) && found.contains(&"D-PREFIX".into()),
            "{v}"
        );
        let prefixed_hit = &v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["donor_id"] == "D-PREFIX")
            .unwrap();
        assert_eq!(prefixed_hit["match"], "10/10");
        assert_eq!(prefixed_hit["potential"], 0);
    }
    // item 2: serology in a patient typing is read as in a donor's
    let v = search_json(&[
        "--db",
        &db,
        "--patient",
        "A1+A2^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01",
        "--loci",
        "A,B,DRB1",
        "--no-probabilities",
    ]);
    assert!(ids(&v).contains(&"D-SERO".to_string()), "{v}");
}

#[test]
fn certain_matches_rank_first_and_cords_without_weight_after_adults() {
    let dir = TempDir::new("coh-rank");
    let db = imported(&dir);
    let v = search_json(&[
        "--db",
        &db,
        "--patient",
        PATIENT,
        "--patient-population",
        "EUR",
    ]);
    let order = ids(&v);
    let pos = |id: &str| {
        order
            .iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("{id} in {order:?}"))
    };
    // item 3: certain everywhere beats a potential match, whatever the frequency set says
    assert!(pos("D-PLAIN") < pos("D-POT"), "{order:?}");
    assert!(pos("D-PREFIX") < pos("D-POT"), "{order:?}");
    // item 4: without the patient's weight a cord comes after the adults of its grade
    assert!(pos("C-CORD") > pos("D-PREFIX"), "{order:?}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("cell dose could not be judged"),
        "{warnings}"
    );
    // with the weight, the dose is judged and said
    let v = search_json(&[
        "--db",
        &db,
        "--patient",
        PATIENT,
        "--patient-weight",
        "60",
        "--no-probabilities",
    ]);
    let cord = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["donor_id"] == "C-CORD")
        .unwrap()
        .clone();
    assert!(
        cord["cell_dose_tnc_1e7_per_kg"].as_f64().unwrap() > 2.0,
        "{cord}"
    );
    assert!(!v["warnings"].to_string().contains("cell dose"), "{v}");
}

#[test]
fn ragged_rows_are_rejects_and_the_rest_lands() {
    let dir = TempDir::new("coh-ragged");
    let file = dir.file(
        "ragged.csv",
        &format!(
            "id,registry,donor_type,birth_date,gl\nD1,SYNTH,adult,1990-01-01,\"{PATIENT}\"\nD2,SYNTH,adult\nD3,SYNTH,adult,1990-01-01,\"{PATIENT}\",extra\nD4,SYNTH,adult,1992-01-01,\"{PATIENT}\"\n"
        ),
    );
    let db = dir.db("r.db");
    let o = medulla(&["donors", "--db", &db, "import", &file]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 new") && text(&o).contains("2 rejected"),
        "{}",
        text(&o)
    );
    let rejects = std::fs::read_to_string(format!("{file}.rejects.csv")).unwrap();
    assert!(
        rejects.contains("3,D2,row,\"expected 5 fields, found 3\""),
        "{rejects}"
    );
    assert!(
        rejects.contains("4,D3,row,\"expected 5 fields, found 6\""),
        "{rejects}"
    );
}

#[test]
fn reading_commands_never_create_a_database() {
    let dir = TempDir::new("coh-nodb");
    let missing = dir.path("typo.db");
    for args in [
        vec!["search", "--db", &missing, "--patient", PATIENT],
        vec!["donors", "--db", &missing, "show", "D1"],
        vec!["donors", "--db", &missing, "export", "--out", "/dev/null"],
        vec!["search", "--db", &missing, "--repeat", "x"],
    ] {
        let o = medulla(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            text(&o).contains(&format!("no registry database at {missing}")),
            "{}",
            text(&o)
        );
        assert!(
            !std::path::Path::new(&missing).exists(),
            "{args:?} created {missing}"
        );
    }
    // an import creates it, and says so
    let o = medulla(&["donors", "--db", &missing, "import", &registry_csv(&dir)]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("creating a new registry database"),
        "{}",
        text(&o)
    );
}

#[test]
fn two_imports_at_once_both_land() {
    let dir = TempDir::new("coh-lock");
    let db = dir.db("l.db");
    let pools: Vec<String> = (0..2)
        .map(|i| {
            let p = dir.path(&format!("p{i}.csv"));
            let o = medulla(&[
                "synth",
                "--donors",
                "20000",
                "--seed",
                &format!("{}", 40 + i),
                "--out",
                &p,
            ]);
            assert!(o.status.success());
            // distinct ids per file, and no GRIDs (the two draws would repeat them)
            let t: Vec<String> = std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .enumerate()
                .map(|(n, l)| {
                    if n == 0 {
                        return l.to_string();
                    }
                    let (id, rest) = l.split_once(',').unwrap();
                    let (_grid, rest) = rest.split_once(',').unwrap();
                    format!("F{i}{id},,{rest}")
                })
                .collect();
            std::fs::write(&p, t.join("\n") + "\n").unwrap();
            p
        })
        .collect();
    // create the schema first, then race two writers
    assert!(
        medulla(&["donors", "--db", &db, "import", &registry_csv(&dir)])
            .status
            .success()
    );
    let spawn = |p: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_medulla"))
            .args(["donors", "--db", &db, "import", p])
            .env("MEDULLA_QUIET", "1")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn(&pools[0]).unwrap());
        let b = s.spawn(|| spawn(&pools[1]).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", text(o));
        assert!(!text(o).contains("locked"), "{}", text(o));
    }
    let out = dir.path("all.csv");
    assert!(medulla(&["donors", "--db", &db, "export", "--out", &out])
        .status
        .success());
    let n = std::fs::read_to_string(&out).unwrap().lines().count() - 1;
    assert_eq!(n, 5 + 40_000);
}

#[test]
fn contradictory_or_unknown_filters_are_named() {
    let dir = TempDir::new("coh-filters");
    let db = imported(&dir);
    // a search with extra options: does it succeed, and does it say `want`
    let check = |extra: &[&str], ok: bool, want: &str| {
        let mut args = vec![
            "search",
            "--db",
            &db,
            "--patient",
            PATIENT,
            "--no-probabilities",
        ];
        args.extend(extra);
        let o = medulla(&args);
        assert_eq!(o.status.success(), ok, "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{extra:?}: {}", text(&o));
    };
    let fails = |extra: &[&str], want: &str| check(extra, false, want);
    let warns = |extra: &[&str], want: &str| check(extra, true, want);
    fails(
        &["--min-age", "50", "--max-age", "20"],
        "--min-age: 50 is above --max-age 20",
    );
    fails(
        &["--mismatches", "11"],
        "--mismatches: 11 is more than the 10 positions",
    );
    fails(&["--abo", "Q"], "\"Q\" is not one of O, A, B, AB");
    warns(
        &["--population", "XYZ"],
        "--population: no donor of population \"XYZ\"",
    );
    // item 10: codes and options in the case users type them
    let v = search_json(&[
        "--db",
        &db,
        "--patient",
        PATIENT,
        "--registry",
        "synth",
        "--population",
        "eur",
        "--sex",
        "M",
        "--patient-abo",
        "o",
        "--no-probabilities",
    ]);
    let found = ids(&v);
    assert!(
        found.contains(&"D-PLAIN".to_string()) && !found.contains(&"D-PREFIX".to_string()),
        "{v}"
    );
    let v = search_json(&[
        "--db",
        &db,
        "--patient",
        PATIENT,
        "--sex",
        "f",
        "--cmv",
        "POS",
        "--no-probabilities",
    ]);
    assert_eq!(ids(&v), ["D-PREFIX"]);
}

#[test]
fn export_follows_the_extension_and_json_is_deterministic() {
    let dir = TempDir::new("coh-export");
    let db = imported(&dir);
    let (a, b) = (dir.path("a.json"), dir.path("b.json"));
    for f in [&a, &b] {
        assert!(medulla(&["donors", "--db", &db, "export", "--out", f])
            .status
            .success());
    }
    let ta = std::fs::read(&a).unwrap();
    assert!(
        serde_json::from_slice::<serde_json::Value>(&ta).is_ok(),
        "x.json holds JSON"
    );
    assert_eq!(ta, std::fs::read(&b).unwrap(), "byte-identical exports");
    let c = dir.path("c.txt");
    assert!(
        medulla(&["donors", "--db", &db, "export", "--out", &c, "--format", "json"])
            .status
            .success()
    );
    assert_eq!(ta, std::fs::read(&c).unwrap());
    let csv = dir.path("d.csv");
    assert!(medulla(&["donors", "--db", &db, "export", "--out", &csv])
        .status
        .success());
    assert!(std::fs::read_to_string(&csv).unwrap().starts_with("id,"));
}

#[test]
fn predict_and_impute_read_donor_csvs_and_the_registry() {
    let dir = TempDir::new("coh-predict");
    let db = imported(&dir);
    let csv = registry_csv(&dir);
    let patients = dir.file("p.txt", &format!("P1%{PATIENT}\n"));
    let from_csv = medulla(&["predict", "--patients", &patients, "--donors", &csv]);
    let from_db = medulla(&["predict", "--patients", &patients, "--db", &db]);
    for o in [&from_csv, &from_db] {
        assert!(o.status.success(), "{}", text(o));
    }
    let rows = |o: &std::process::Output| {
        let mut l: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        l.sort();
        l
    };
    assert_eq!(rows(&from_csv), rows(&from_db));
    let out = rows(&from_csv);
    assert!(
        out.iter()
            .any(|l| l.starts_with("P1,D-PREFIX,1.000000,1.000000,1.000000,1.000000,1.000000,")),
        "{out:?}"
    );
    let o = medulla(&[
        "impute",
        "--db",
        &db,
        "--population",
        "EUR",
        "--max-genotypes",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.lines().any(|l| l.starts_with("D-PREFIX,1,")), "{s}");
}

#[test]
fn csv_and_json_carry_every_column() {
    let dir = TempDir::new("coh-columns");
    let db = imported(&dir);
    let o = medulla(&[
        "search",
        "--db",
        &db,
        "--patient",
        PATIENT,
        "--format",
        "csv",
        "--no-probabilities",
        "--date",
        "2026-06-01",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let header = out.lines().next().unwrap();
    for col in [
        "donor_type",
        "age",
        "sex",
        "cmv",
        "abo",
        "registry",
        "population",
        "A",
        "DRB1",
        "DPB1",
        "why",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} in {header}");
    }
    let plain = out.lines().find(|l| l.contains("D-PLAIN")).unwrap();
    assert!(plain.contains(",adult,SYNTH,EUR,36,M,neg,O,"), "{plain}");
    // DPB1 untyped on both sides shows as untyped
    assert!(plain.contains(",MM,MM,MM,MM,MM,-,"), "{plain}");
    let v = search_json(&["--db", &db, "--patient", PATIENT, "--no-probabilities"]);
    let h = &v["hits"][0];
    for key in [
        "donor_type",
        "age",
        "sex",
        "cmv",
        "abo",
        "registry",
        "population",
        "loci",
        "explain",
    ] {
        assert!(h.get(key).is_some(), "{key} in {h}");
    }
}

#[test]
fn the_readme_says_how_to_install_and_what_hla_exits_with() {
    // every option's help text is checked by the unit test in main.rs (clap's own tree)
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains("cargo install --path crates/medulla"));
    assert!(readme.contains("exits non-zero"));
}

#[test]
fn who_specificities_are_valid_with_empty_reductions() {
    let o = medulla(&[
        "hla", "validate", "Bw4", "Bw6", "Dw1", "Dw26", "DPw1", "DPw6",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&["hla", "reduce", "--to", "G", "Bw4", "DPw6"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Bw4\t\nDPw6\t\n");
    let o = medulla(&["hla", "validate", "Dw27", "DPw7", "Bw5"]);
    assert!(!o.status.success());
    assert_eq!(
        text(&o).matches("unknown serological antigen").count(),
        3,
        "{}",
        text(&o)
    );
}

#[test]
fn donors_show_prints_seconds_and_no_empty_notes() {
    let dir = TempDir::new("coh-show");
    let db = imported(&dir);
    let o = medulla(&["donors", "--db", &db, "show", "D-PLAIN"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let history: Vec<&str> = t.lines().skip_while(|l| *l != "history").skip(1).collect();
    assert!(!history.is_empty(), "{t}");
    for l in history {
        assert!(!l.contains("()"), "{l}");
        let stamp = l.trim().split("  ").next().unwrap();
        assert_eq!(stamp.len(), 19, "{l}");
        assert!(
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S").is_ok(),
            "{l}"
        );
    }
}

#[test]
fn the_wmda_layout_is_read_at_nmdp_g_and_a_wrong_resolution_is_named() {
    let dir = TempDir::new("coh-resolution");
    // the WMDA validation layout: one population per file, `;` separated, NMDP g names
    let lines: Vec<String> = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/haplotypes/nmdp-2007/NMDP_2007_FiveLocus_Freqs.csv"
    ))
    .unwrap()
    .lines()
    .filter(|l| l.starts_with("EUR,"))
    .map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        format!("{};{}", f[1].replace("HLA-", ""), f[2])
    })
    .collect();
    let set = dir.file("EUR.txt", &(lines.join("\n") + "\n"));
    let subjects = dir.file(
        "s.txt",
        "S1%A*01:01+A*02:01^C*07:01+C*05:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01\n\
         S2%A*01:01+A*01:01^C*07:01+C*07:01^B*08:01+B*08:01^DRB1*03:01+DRB1*03:01^DQB1*02:01+DQB1*02:01\n",
    );
    let o = medulla(&[
        "impute",
        "--freqs",
        &set,
        "--input",
        &subjects,
        "--max-genotypes",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("resolution guessed from its names: NMDP g groups"),
        "{}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("S1,1,")) && out.lines().any(|l| l.starts_with("S2,1,")),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("unrepresented in the frequency set"),
        "{}",
        text(&o)
    );
    // read at the wrong resolution, most typings are unrepresented: said once, with the fix
    let o = medulla(&[
        "impute",
        "--freqs",
        &set,
        "--input",
        &subjects,
        "--resolution",
        "G",
    ]);
    let t = text(&o);
    assert_eq!(
        t.matches("unrepresented in the frequency set").count(),
        1,
        "{t}"
    );
    assert!(t.contains("--resolution nmdp-g"), "{t}");
}

#[test]
fn errors_read_as_messages_never_stack_traces() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["donors", "--db", "/nonexistent/dir/x.db", "show", "D1"])
        .env("RUST_BACKTRACE", "1")
        .env("MEDULLA_QUIET", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("no registry database at /nonexistent/dir/x.db"),
        "{err}"
    );
    assert!(
        !err.contains("backtrace") && !err.contains("panicked"),
        "{err}"
    );
}
