//! Loading releases from folders.

use std::path::PathBuf;

use medulla_nomenclature::{LoadError, MacTable, Reducer, Reduction, Release};

fn repo_release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/imgt/3.58.0")
}

#[test]
fn a_release_folder_loads_like_the_shipped_copy() {
    let from_dir = Release::from_dir(&repo_release_dir()).unwrap();
    let shipped = Release::shipped();
    assert_eq!(from_dir.version(), "3.58.0");
    assert_eq!(from_dir.allele_count(), shipped.allele_count());
    let macs = MacTable::shipped();
    let (a, b) = (
        Reducer::new(&from_dir, &macs),
        Reducer::new(&shipped, &macs),
    );
    for t in ["A*02:XX", "DR15", "B*44:02:01:02S", "C*02:02:37"] {
        for to in Reduction::ALL {
            assert_eq!(a.reduce(t, to).unwrap(), b.reduce(t, to).unwrap());
        }
    }
}

#[test]
fn a_missing_folder_names_the_missing_file() {
    let err = Release::from_dir(&PathBuf::from("/nonexistent/release"))
        .err()
        .unwrap();
    match err {
        LoadError::Io { path, .. } => assert!(path.ends_with("Allelelist.txt")),
        other => panic!("{other}"),
    }
}

#[test]
fn a_malformed_group_file_names_file_and_line() {
    let dir = tempdir();
    for f in ["Allelelist.txt", "release_version.txt"] {
        std::fs::copy(repo_release_dir().join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.join("wmda")).unwrap();
    for f in ["hla_nom_p.txt", "rel_dna_ser.txt", "rel_ser_ser.txt"] {
        std::fs::copy(
            repo_release_dir().join("wmda").join(f),
            dir.join("wmda").join(f),
        )
        .unwrap();
    }
    std::fs::write(dir.join("wmda/hla_nom_g.txt"), "# header\nA*;01:01:01:01\n").unwrap();
    let err = Release::from_dir(&dir).err().unwrap().to_string();
    assert!(err.contains("hla_nom_g.txt line 2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("medulla-release-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
