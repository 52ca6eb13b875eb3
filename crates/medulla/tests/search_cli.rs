//! `medulla search` over a donor CSV and over the registry database.

mod common;
use common::{medulla, text};

#[test]
fn a_donor_is_found_by_its_own_typing_in_a_file_and_in_the_registry() {
    let dir = std::env::temp_dir().join(format!("medulla-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pool = dir.join("pool.csv").display().to_string();
    let db = dir.join("reg.db").display().to_string();
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
        own.contains(",10,10,0,0,MM,MM,MM,MM,MM,PP,unknown,"),
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
    let _ = std::fs::remove_dir_all(&dir);
}
