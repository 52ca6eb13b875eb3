//! `medulla search` over a donor CSV and over the registry database.

mod common;
use common::{medulla, text, TempDir};

#[test]
fn a_donor_is_found_by_its_own_typing_in_a_file_and_in_the_registry() {
    let dir = TempDir::new("search");
    let pool = dir.path("pool.csv");
    let db = dir.db("reg.db");
    assert!(
        medulla(&["synth", "--donors", "500", "--seed", "12", "--out", &pool])
            .status
            .success()
    );
    // the first donor typed at two fields everywhere
    let csv = std::fs::read_to_string(&pool).unwrap();
    let row = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| {
            f[15..25].iter().all(|t| {
                t.contains('*')
                    && !t.contains("XX")
                    && t.split(':')
                        .nth(1)
                        .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()))
            })
        })
        .expect("a high-resolution donor");
    let patient = format!(
        "{}+{}^{}+{}^{}+{}^{}+{}^{}+{}",
        row[15], row[16], row[17], row[18], row[19], row[20], row[21], row[22], row[23], row[24]
    );
    let o = medulla(&[
        "search",
        "--donors",
        &pool,
        "--patient",
        &patient,
        "--date",
        "2026-01-01",
        "--limit",
        "500",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let own = out
        .lines()
        .find(|l| l.split(',').nth(1) == Some(row[0]))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        own.contains(",10/10,,0,0,MM,MM,MM,MM,MM,-,unknown,"),
        "{own}"
    );

    assert!(medulla(&["donors", "--db", &db, "import", &pool])
        .status
        .success());
    let o = medulla(&[
        "search",
        "--db",
        &db,
        "--patient",
        &patient,
        "--date",
        "2026-01-01",
        "--mismatches",
        "1",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(json["total"].as_u64().unwrap() >= 1);
    assert_eq!(json["hits"][0]["match"], "10/10");

    let o = medulla(&[
        "search",
        "--donors",
        &pool,
        "--patient",
        "A*01:01+A*02:01^B*08:01",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("DRB1"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_repeated_search_reports_new_changed_and_gone_donors() {
    let dir = TempDir::new("repeat");
    let pool = dir.path("pool.csv");
    let db = dir.db("reg.db");
    assert!(
        medulla(&["synth", "--donors", "400", "--seed", "5", "--out", &pool])
            .status
            .success()
    );
    assert!(medulla(&["donors", "--db", &db, "import", &pool])
        .status
        .success());
    let csv = std::fs::read_to_string(&pool).unwrap();
    let header = csv.lines().next().unwrap().to_string();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    // a patient everybody can be compared with: a donor's own two-field typing
    let own = rows
        .iter()
        .find(|f| {
            f[15..25]
                .iter()
                .all(|t| t.contains('*') && !t.contains("XX"))
                && f[3] == "adult"
        })
        .unwrap();
    let patient = format!(
        "{}+{}^{}+{}^{}+{}^{}+{}^{}+{}",
        own[15], own[16], own[17], own[18], own[19], own[20], own[21], own[22], own[23], own[24]
    );
    let search = |extra: &[&str]| {
        let mut args = vec!["search", "--db", &db, "--date", "2026-01-01"];
        args.extend_from_slice(extra);
        let o = medulla(&args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    search(&["--patient", &patient, "--mismatches", "5", "--save", "mine"]);
    let first = search(&["--repeat", "mine"]);
    assert!(
        first.contains("0 new, 0 changed, 0 no longer matching"),
        "{first}"
    );
    // the donor itself unavailable (no longer searchable), a twin added, one match changed
    assert!(medulla(&[
        "donors",
        "--db",
        &db,
        "set-status",
        &own[0],
        "--status",
        "temporarily-unavailable",
        "--reason",
        "travel",
        "--until",
        "2099-01-01",
        "--by",
        "test",
    ])
    .status
    .success());
    let mut twin = own.clone();
    twin[0] = "TWIN000000001".into();
    twin[1] = String::new();
    let matches: Vec<String> = first
        .lines()
        .filter(|l| l.contains("/10"))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let other = rows
        .iter()
        .find(|f| f[0] != own[0] && matches.contains(&f[0]))
        .expect("another match");
    let mut changed = other.clone();
    changed[8] = if changed[8] == "pos" { "neg" } else { "pos" }.into();
    let update = dir.0.join("update.csv");
    std::fs::write(
        &update,
        format!("{header}\n{}\n{}\n", twin.join(","), changed.join(",")),
    )
    .unwrap();
    let o = medulla(&["donors", "--db", &db, "import", update.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    let second = search(&["--repeat", "mine"]);
    assert!(
        second.contains("1 new, 1 changed, 1 no longer matching"),
        "{second}"
    );
    assert!(second.contains("new      TWIN000000001"), "{second}");
    assert!(
        second.contains(&format!("changed  {}", other[0])) && second.contains("record changed"),
        "{second}"
    );
    assert!(second.contains(&format!("gone     {}", own[0])), "{second}");
    // the stored matches are now this run's
    let third = search(&["--repeat", "mine"]);
    assert!(
        third.contains("0 new, 0 changed, 0 no longer matching"),
        "{third}"
    );
}

#[test]
fn the_demo_builds_its_registry_once_and_searches_four_populations() {
    let dir = TempDir::new("demo");
    let d = dir.path("registry");
    let o = medulla(&["demo", "--dir", &d, "--donors", "3000"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("imported 3000 donors"), "{out}");
    for pop in ["EUR", "AFA", "API", "HIS"] {
        assert!(
            out.contains(&format!("Patient of population {pop}")),
            "{out}"
        );
    }
    assert!(out.contains("rank  donor"), "{out}");
    let o = medulla(&["demo", "--dir", &d, "--donors", "3000"]);
    assert!(
        o.status.success() && text(&o).contains("reusing"),
        "{}",
        text(&o)
    );
}

/// A value imported from a file is never a formula in a CSV export a spreadsheet opens.
#[test]
fn csv_exports_never_hand_a_spreadsheet_a_formula() {
    let dir = TempDir::new("search-formula");
    let file = dir.file(
        "donors.csv",
        "id,registry,donor_type,birth_date,population,A_1,A_2,B_1,B_2,DRB1_1,DRB1_2\n\
         D1,=HYPERLINK(\"http://evil.example\"),adult,1990-01-01,@SUM(A1),A*01:01,A*02:01,B*08:01,B*44:02,DRB1*03:01,DRB1*15:01\n",
    );
    let o = medulla(&[
        "search",
        "--donors",
        &file,
        "--patient",
        "A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*15:01",
        "--format",
        "csv",
        "--no-probabilities",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("D1"), "{out}");
    assert!(out.contains("'=HYPERLINK"), "{out}");
    assert!(out.contains("'@SUM(A1)"), "{out}");
    for line in out.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '@', '+']),
                "a formula reaches the spreadsheet: {cell:?} in {line}"
            );
        }
    }
}
