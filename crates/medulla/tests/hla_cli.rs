//! The `medulla hla` command line: its exact interface is what later tooling depends on.

use std::io::Write;
use std::process::{Command, Stdio};

fn medulla(args: &[&str], stdin: &str) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env_remove("MEDULLA_IMGT")
        .env_remove("MEDULLA_MAC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // feed standard input from another thread so a large output cannot dead-lock the pipes
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_string();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

#[test]
fn reduce_reads_standard_input_and_keeps_order() {
    let input = "A*01:01:01:01\nA*99:99\nA*01:01:01:02N\nA*02:AB+A*24:02\n";
    let (out, err, ok) = medulla(&["hla", "reduce", "--to", "S"], input);
    // every line is written, and the exit status says some were errors
    assert!(!ok);
    assert!(err.contains("1 typing(s) with errors"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "A*01:01:01:01\tA1",
            "A*99:99\terror: \"A*99:99\" at position 0: unknown allele",
            "A*01:01:01:02N\t",
            "A*02:AB+A*24:02\tA2+A9/A24",
        ]
    );
}

#[test]
fn reduce_takes_typings_as_arguments() {
    let (out, _, ok) = medulla(&["hla", "reduce", "--to", "lgx", "A*02:AB", "DR15"], "");
    assert!(ok);
    assert_eq!(out.lines().next().unwrap(), "A*02:AB\tA*02:01/A*02:02");
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("DR15\tDRB1*15:01/DRB1*15:02/"));
}

#[test]
fn many_lines_come_back_in_order() {
    let alleles = ["A*01:01", "B*08:01", "C*07:01", "DRB1*03:01", "DQB1*02:01"];
    let input: String = (0..40_000)
        .map(|i| format!("{}\n", alleles[i % 5]))
        .collect();
    let (out, _, ok) = medulla(&["hla", "reduce", "--to", "G"], &input);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 40_000);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("{}\t", alleles[i % 5])),
            "line {i}: {l}"
        );
    }
}

#[test]
fn validate_and_expand() {
    let (out, _, ok) = medulla(&["hla", "validate", "A*01:01+A*02:AB", "A*01:01+"], "");
    assert!(!ok, "an error line makes the exit status non-zero");
    let (_, _, ok) = medulla(&["hla", "validate", "A*01:01+A*02:AB", "HLA-B*08:01"], "");
    assert!(ok, "all valid: exit 0");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "A*01:01+A*02:AB\tok");
    assert!(lines[1].starts_with("A*01:01+\terror: "), "{}", lines[1]);
    assert!(lines[1].contains("empty operand"));

    let (out, _, _) = medulla(&["hla", "expand", "A*02:AB", "A*24:AMG", "A*01:04N"], "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "A*02:AB\tA*02:01/A*02:02");
    assert_eq!(lines[1], "A*24:AMG\tA*24:02/A*24:09N");
    assert_eq!(lines[2], "A*01:04N\tA*01:04:01:01N/A*01:04:01:02N");
}

#[test]
fn imgt_and_mac_options_load_other_sources() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/imgt/3.58.0");
    let (out, _, ok) = medulla(
        &["hla", "--imgt", dir, "reduce", "--to", "G", "C*02:02:37"],
        "",
    );
    assert!(ok);
    assert_eq!(out, "C*02:02:37\tC*02:10:01G\n");

    let mac = std::env::temp_dir().join(format!("medulla-mac-{}.txt", std::process::id()));
    std::fs::write(&mac, "LAST UPDATED\nCODE\tSUBTYPE\n\nZZZZ\t01/02\n").unwrap();
    let (out, _, ok) = medulla(
        &[
            "hla",
            "reduce",
            "--mac",
            mac.to_str().unwrap(),
            "--to",
            "lgx",
            "A*02:ZZZZ",
            "A*02:AB",
        ],
        "",
    );
    assert!(!ok, "A*02:AB is not in that table");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "A*02:ZZZZ\tA*02:01/A*02:02");
    assert!(lines[1].contains("unknown MAC code AB"));
    std::fs::remove_file(mac).ok();

    let (_, err, ok) = medulla(
        &["hla", "--imgt", "/nonexistent", "validate", "A*01:01"],
        "",
    );
    assert!(!ok);
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn an_unknown_reduction_is_refused() {
    let (_, err, ok) = medulla(&["hla", "reduce", "--to", "X", "A*01:01"], "");
    assert!(!ok);
    assert!(err.contains("unknown reduction"), "{err}");
}
