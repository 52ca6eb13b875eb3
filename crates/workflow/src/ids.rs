//! Identifiers typed by people (a patient's id, a product's, a relative's): the one rule
//! every interface and layer calls, so that an id is safe wherever it goes next (a file
//! name, a URL path, a table cell, a log line, a message to a partner registry).
//!
//! An identifier is not free text: notes and reasons are, and are not checked here.

use std::fmt;

/// The longest identifier people type for a patient, product or relative.
pub const MAX_TYPED_ID: usize = 64;

/// Why a typed identifier is refused: the field it was typed in and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for IdentifierError {}

/// Characters that print nothing but change what a reader sees: the soft hyphen, the
/// zero-width and joining characters, the bidirectional controls, the byte order mark.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Check an identifier typed by a person in `field`: not empty, at most `max_len`
/// characters, printable characters only (no control characters, no invisible format
/// characters, no whitespace but the plain space and none at either end), neither `/`
/// nor `\`, and not `.` or `..`. The value is checked as given: callers that trim
/// should trim first.
///
/// ```
/// use medulla_workflow::ids::check_identifier;
/// assert!(check_identifier("id", "P-2026-001", 64).is_ok());
/// assert!(check_identifier("id", "../x", 64).is_err());
/// ```
pub fn check_identifier(field: &str, value: &str, max_len: usize) -> Result<(), IdentifierError> {
    let refuse = |reason: String| {
        Err(IdentifierError {
            field: field.to_string(),
            reason,
        })
    };
    // what is shown of a refused value: never the whole of a huge one
    let shown = || {
        let head: String = value.chars().take(24).collect();
        if head.len() < value.len() {
            format!("{head:?}...")
        } else {
            format!("{head:?}")
        }
    };
    if value.is_empty() {
        return refuse("an identifier is required".into());
    }
    let chars = value.chars().count();
    if chars > max_len {
        return refuse(format!(
            "{} is {chars} characters long: an identifier has at most {max_len}",
            shown()
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || invisible(*c) || (c.is_whitespace() && *c != ' '))
    {
        return refuse(format!(
            "{} contains the control or invisible character U+{:04X}: an identifier has \
             printable characters only",
            shown(),
            c as u32
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return refuse(format!("{} starts or ends with a space", shown()));
    }
    if let Some(c) = value.chars().find(|c| matches!(c, '/' | '\\')) {
        return refuse(format!(
            "{} contains {c:?}: an identifier has no / or \\",
            shown()
        ));
    }
    if value == "." || value == ".." {
        return refuse(format!("{} is not an identifier", shown()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(value: &str, max: usize) -> String {
        let e = check_identifier("id", value, max).expect_err(value);
        assert_eq!(e.field, "id");
        e.reason
    }

    #[test]
    fn ordinary_identifiers_pass() {
        for ok in [
            "P1",
            "P-2026-001",
            "BE:1001:P7",
            "Müller_3",
            "a b",
            "x".repeat(64).as_str(),
        ] {
            check_identifier("id", ok, 64).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
    }

    #[test]
    fn each_unsafe_identifier_is_refused_with_the_reason() {
        assert!(refused("", 64).contains("required"));
        assert!(refused("P\0", 64).contains("U+0000"));
        assert!(refused("P\u{1b}[31m", 64).contains("U+001B"));
        assert!(refused("P\t1", 64).contains("U+0009"));
        assert!(refused("P\u{202E}1", 64).contains("U+202E"));
        assert!(refused("P\u{200B}", 64).contains("U+200B"));
        assert!(refused("../x", 64).contains("'/'"));
        assert!(refused("a\\b", 64).contains("'\\\\'"));
        assert!(refused("..", 64).contains("not an identifier"));
        assert!(refused(" P1", 64).contains("space"));
        assert!(refused("P1 ", 64).contains("space"));
        let long = "x".repeat(65);
        let r = refused(&long, 64);
        assert!(
            r.contains("65 characters") && r.contains("at most 64"),
            "{r}"
        );
        // the huge value is not echoed whole
        let huge = "y".repeat(10_000);
        let r = refused(&huge, 64);
        assert!(r.len() < 200, "{r}");
        // the limit counts characters, not bytes
        assert!(check_identifier("id", &"é".repeat(25), 25).is_ok());
        assert!(check_identifier("id", &"é".repeat(26), 25).is_err());
    }
}
