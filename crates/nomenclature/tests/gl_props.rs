//! Property tests: the GL parser and the reducer never panic, and printing is lossless.

use std::sync::OnceLock;

use medulla_nomenclature::{Gl, MacTable, Reducer, Reduction, Release};
use proptest::prelude::*;

fn reducer() -> &'static Reducer<'static> {
    static R: OnceLock<Release> = OnceLock::new();
    static M: OnceLock<MacTable> = OnceLock::new();
    static D: OnceLock<Reducer<'static>> = OnceLock::new();
    D.get_or_init(|| {
        Reducer::new(
            R.get_or_init(Release::shipped),
            M.get_or_init(MacTable::shipped),
        )
    })
}

const TOKENS: &[&str] = &[
    "A*01:01",
    "A*02:AB",
    "A*02:XX",
    "Cw10",
    "DR15",
    "A*0101",
    "B*44:02:01:02S",
    "A*01:04N",
    "HLA-A*24:02",
    "A*99:99",
    "A",
    "*",
    ":",
    "",
    "A*01:01:01G",
    "A*01:01P",
    "DRB1*15:01g",
    "B*35:ZZZZ",
    "A*24:AMG",
    "MICA*005",
    "A9",
    "01:01",
    "A*01:01:01:01:01",
    "A*XX",
];

fn gl_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(TOKENS),
            prop::sample::select(&["/", "~", "+", "|", "^", ""][..]),
        ),
        1..8,
    )
    .prop_map(|v| v.into_iter().map(|(t, o)| format!("{t}{o}")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_any_text(s in "\\PC{0,60}") {
        let _ = Gl::parse(&s);
    }

    #[test]
    fn reducer_never_panics_on_any_text(s in "[A-Za-z0-9*:/~+|^ .-]{0,40}", i in 0usize..8) {
        let _ = reducer().reduce(&s, Reduction::ALL[i]);
        let _ = reducer().expand(&s);
    }

    #[test]
    fn reducer_never_panics_on_gl_like_text(s in gl_like(), i in 0usize..8) {
        let _ = reducer().reduce(&s, Reduction::ALL[i]);
        let _ = reducer().expand(&s);
    }

    #[test]
    fn printing_a_parsed_string_gives_it_back(s in gl_like()) {
        if let Ok(gl) = Gl::parse(&s) {
            prop_assert_eq!(gl.to_string(), s);
        }
    }

    #[test]
    fn error_positions_point_inside_the_input(s in gl_like()) {
        if let Err(e) = reducer().reduce(&s, Reduction::G) {
            prop_assert!(e.position <= s.len());
            prop_assert!(s[e.position..].starts_with(&e.token) || e.token.is_empty() || e.token.len() == 1);
        }
    }
}
