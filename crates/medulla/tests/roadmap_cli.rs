//! The patient's roadmap on the command line: family assignment (batch CSV and a
//! registered patient's relatives), the patient's own cells, and the roadmap at each stage.

mod common;

use common::{text, TempDir};
use serde_json::Value;
use std::process::{Command, Output};

const HA: [&str; 5] = ["A*01:01", "C*07:01", "B*08:01", "DRB1*03:01", "DQB1*02:01"];
const HB: [&str; 5] = ["A*02:01", "C*05:01", "B*44:02", "DRB1*04:01", "DQB1*03:01"];
const HC: [&str; 5] = ["A*03:01", "C*07:02", "B*07:02", "DRB1*15:01", "DQB1*06:02"];
const HD: [&str; 5] = ["A*24:02", "C*04:01", "B*35:01", "DRB1*01:01", "DQB1*05:01"];

fn gl(h1: &[&str; 5], h2: &[&str; 5]) -> String {
    (0..5)
        .map(|i| format!("{}+{}", h1[i], h2[i]))
        .collect::<Vec<_>>()
        .join("^")
}

struct Reg {
    dir: TempDir,
    db: String,
}

impl Reg {
    fn new(name: &str) -> Reg {
        let dir = TempDir::new(name);
        let db = dir.db("registry.db");
        // one donor typed as the patient, one sharing a haplotype
        let row = |id: &str, h1: &[&str; 5], h2: &[&str; 5]| {
            format!(
                "{id},REG,adult,F,1990-01-01,{},{},{},{},{},{},{},{},{},{}\n",
                h1[0], h2[0], h1[2], h2[2], h1[1], h2[1], h1[3], h2[3], h1[4], h2[4]
            )
        };
        let csv = dir.file(
            "donors.csv",
            &format!(
                "id,registry,donor_type,sex,birth_date,A_1,A_2,B_1,B_2,C_1,C_2,DRB1_1,DRB1_2,DQB1_1,DQB1_2\n{}{}",
                row("D-MATCH", &HA, &HC),
                row("D-HALF", &HA, &HD)
            ),
        );
        let r = Reg { dir, db };
        r.ok(&["donors", "import", &csv]);
        r.ok(&[
            "patients",
            "add",
            "P1",
            "--typing",
            &gl(&HA, &HC),
            "--weight",
            "70",
            "--population",
            "EUR",
        ]);
        r
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_medulla"))
            .args(args)
            .env("MEDULLA_QUIET", "1")
            .env("MEDULLA_DB", &self.db)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn roadmap(&self) -> Value {
        serde_json::from_str(&self.ok(&["patients", "roadmap", "P1", "--format", "json"])).unwrap()
    }
}

fn step<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap()
}

#[test]
fn family_assign_reads_the_batch_csv_and_writes_the_interface_json() {
    let dir = TempDir::new("family-batch");
    let file = dir.file(
        "families.csv",
        &format!(
            "family,member,relation,gl\n\
             F1,M1,father,{}\nF1,M2,mother,{}\nF1,P,patient,{}\nF1,M3,sibling,{}\nF1,M4,sibling,{}\n\
             F2,Q,patient,{}\nF2,Q2,sibling,A*01:01+A*99:99\n\
             F3,R,patient,{}\nF3,R1,father,{}\nF3,R2,cousin,{}\n",
            gl(&HA, &HB),
            gl(&HC, &HD),
            gl(&HA, &HC),
            gl(&HA, &HC),
            gl(&HB, &HD),
            gl(&HA, &HC),
            gl(&HA, &HC),
            gl(&HA, &HB),
            gl(&HA, &HB),
        ),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["family", "assign", &file, "--format", "json"])
        .env("MEDULLA_QUIET", "1")
        .output()
        .unwrap();
    // one family cannot be read: the others are answered, the exit status says so
    assert!(!o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on standard output");
    let fams = v["families"].as_array().unwrap();
    assert_eq!(fams.len(), 3);
    let f1 = &fams[0];
    assert_eq!(f1["family"], "F1");
    assert_eq!(f1["status"], "ok");
    assert_eq!(f1["identical_siblings"], serde_json::json!(["M3"]));
    assert_eq!(f1["haploidentical"], serde_json::json!(["M1", "M2"]));
    let p = f1["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "P")
        .unwrap();
    assert_eq!(p["relation"], "patient");
    assert_eq!(
        p["haplotypes"],
        serde_json::json!([HA.join("~"), HC.join("~")])
    );
    assert_eq!(p["labels"], serde_json::json!(["a", "c"]));
    let f2 = &fams[1];
    assert_eq!(f2["status"], "inconsistent");
    let note = f2["notes"][0].as_str().unwrap();
    assert!(
        note.contains("line 8") && note.contains("Q2") && note.contains("A*99:99"),
        "{note}"
    );
    let f3 = &fams[2];
    assert_eq!(f3["status"], "inconsistent");
    assert!(f3["notes"][0].as_str().unwrap().contains("cousin"), "{f3}");
    // a table for a person
    let o = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["family", "assign", &file])
        .env("MEDULLA_QUIET", "1")
        .output()
        .unwrap();
    assert!(text(&o).contains("identical siblings: M3"), "{}", text(&o));
}

#[test]
fn own_cells_verdict_at_the_threshold() {
    let reg = Reg::new("roadmap-products");
    // 140 x10^6 CD34+ for 70 kg: 2.0 per kg, exactly the default threshold
    reg.ok(&[
        "products",
        "add",
        "AP1",
        "--patient",
        "P1",
        "--collected",
        "2025-03-01,2025-03-02",
        "--cd34",
        "140",
        "--viability",
        "95",
        "--bags",
        "3",
        "--tank",
        "T1",
        "--rack",
        "R2",
        "--position",
        "7",
        "--agents",
        "G-CSF",
    ]);
    let v: Value =
        serde_json::from_str(&reg.ok(&["products", "show", "AP1", "--format", "json"])).unwrap();
    assert_eq!(v["verdict"]["usable"], true, "{v}");
    assert_eq!(
        v["collected"],
        serde_json::json!(["2025-03-01", "2025-03-02"])
    );
    let v: Value = serde_json::from_str(&reg.ok(&[
        "products",
        "show",
        "AP1",
        "--format",
        "json",
        "--threshold",
        "2.5",
    ]))
    .unwrap();
    assert_eq!(v["verdict"]["usable"], false);
    // a product moves through its statuses, and a final one stays
    let o = reg.run(&["products", "set-status", "AP1", "infused"]);
    assert!(
        !o.status.success() && text(&o).contains("[product-lifecycle]"),
        "{}",
        text(&o)
    );
    reg.ok(&[
        "products",
        "set-status",
        "AP1",
        "thawed",
        "--note",
        "for transplant",
    ]);
    let list: Value =
        serde_json::from_str(&reg.ok(&["products", "list", "--patient", "P1", "--format", "json"]))
            .unwrap();
    assert_eq!(
        list["total"]["usable"], false,
        "thawed is no longer in store"
    );
    let o = reg.run(&[
        "products",
        "add",
        "AP2",
        "--patient",
        "P404",
        "--collected",
        "2025-01-01",
        "--cd34",
        "10",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("P404"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_roadmap_at_each_stage() {
    let reg = Reg::new("roadmap-stages");
    // nothing yet but the registry: find the family first
    let r = reg.roadmap();
    assert_eq!(r["patient"], "P1");
    let names: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "own-cells",
            "family",
            "unrelated-national",
            "unrelated-international"
        ]
    );
    assert!(
        r["next_action"].as_str().unwrap().contains("siblings"),
        "{r}"
    );
    let nat = step(&r, "unrelated-national");
    assert_eq!(nat["details"]["mismatches"]["0"], 1, "{nat}");
    assert!(
        nat["best"].as_str().unwrap().starts_with("D-MATCH"),
        "{nat}"
    );

    // the search is kept with the case: the next roadmap says what changed since
    let again = reg.roadmap();
    assert!(step(&again, "unrelated-national")["summary"]
        .as_str()
        .unwrap()
        .contains("since"));

    // own cells, enough of them
    reg.ok(&[
        "products",
        "add",
        "AP1",
        "--patient",
        "P1",
        "--collected",
        "2025-03-01",
        "--cd34",
        "200",
        "--viability",
        "90",
    ]);
    let r = reg.roadmap();
    assert!(
        r["next_action"].as_str().unwrap().contains("own cells"),
        "{r}"
    );
    assert!(step(&r, "own-cells")["best"]
        .as_str()
        .unwrap()
        .starts_with("AP1"));
    reg.ok(&[
        "products",
        "set-status",
        "AP1",
        "discarded",
        "--note",
        "contaminated",
    ]);

    // the family: an untyped sibling is worth typing
    reg.ok(&[
        "family",
        "add",
        "--patient",
        "P1",
        "--member",
        "S1",
        "--relation",
        "sibling",
    ]);
    let r = reg.roadmap();
    assert!(
        r["next_action"].as_str().unwrap().contains("type S1"),
        "{r}"
    );

    // typed with the parents: S1 is identical by descent
    reg.ok(&[
        "family",
        "add",
        "--patient",
        "P1",
        "--member",
        "F",
        "--relation",
        "father",
        "--typing",
        &gl(&HA, &HB),
    ]);
    reg.ok(&[
        "family",
        "add",
        "--patient",
        "P1",
        "--member",
        "M",
        "--relation",
        "mother",
        "--typing",
        &gl(&HC, &HD),
    ]);
    reg.ok(&[
        "family",
        "add",
        "--patient",
        "P1",
        "--member",
        "S1",
        "--relation",
        "sibling",
        "--typing",
        &gl(&HC, &HA),
    ]);
    let r = reg.roadmap();
    let fam = step(&r, "family");
    assert_eq!(
        fam["details"]["identical_siblings"],
        serde_json::json!(["S1"]),
        "{fam}"
    );
    assert!(
        r["next_action"]
            .as_str()
            .unwrap()
            .contains("work up sibling S1"),
        "{r}"
    );
    let assigned: Value =
        serde_json::from_str(&reg.ok(&["family", "assign", "--patient", "P1", "--format", "json"]))
            .unwrap();
    assert_eq!(
        assigned["families"][0]["identical_siblings"],
        serde_json::json!(["S1"])
    );

    // S1 turns out haploidentical: the unrelated donor matched at every position is next
    reg.ok(&[
        "family",
        "add",
        "--patient",
        "P1",
        "--member",
        "S1",
        "--relation",
        "sibling",
        "--typing",
        &gl(&HA, &HD),
    ]);
    let r = reg.roadmap();
    let fam = step(&r, "family");
    assert_eq!(fam["details"]["identical_siblings"], serde_json::json!([]));
    assert!(fam["details"]["haploidentical"]
        .as_array()
        .unwrap()
        .contains(&Value::from("S1")));
    assert!(
        r["next_action"].as_str().unwrap().contains("D-MATCH"),
        "{r}"
    );
    assert!(step(&r, "unrelated-international")["summary"]
        .as_str()
        .unwrap()
        .contains("no partner"));
    // a table for a person
    let t = reg.ok(&["patients", "roadmap", "P1"]);
    assert!(
        t.contains("next action:") && t.contains("unrelated-national"),
        "{t}"
    );
    let _ = &reg.dir;
}
