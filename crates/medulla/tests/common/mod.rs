//! Running the `medulla` binary from the CLI tests.

use std::process::{Command, Output};

/// Run `medulla` with quiet loading and no registry database from the environment.
pub fn medulla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env_remove("MEDULLA_DB")
        .output()
        .unwrap()
}

/// Standard output and error together, for assertions and messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
