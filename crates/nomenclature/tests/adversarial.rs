//! Issue 25: the parsers on adversarial input. Every parse is iterative and linear, and
//! the limits (an allele name of at most 64 characters, a GL String of at most 64 KiB, at
//! most 10,000 tokens a typing) are refused by name, as errors, never as a panic.
//!
//! Each case runs on a thread with a 256 KiB stack, so a parser that recursed on the
//! input would overflow and fail the test (the recursive v2 split overflowed on
//! `A*` + 60,000 nines, and took exponential time on 70 digits).

use std::sync::OnceLock;

use medulla_nomenclature::error::{MAX_GL_LEN, MAX_NAME_LEN, MAX_TOKENS};
use medulla_nomenclature::{
    split_loci, Gl, LocusError, MacTable, Reason, Reducer, Reduction, Release, TypingError,
};
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

/// Run `f` on a thread with a small stack; a panic or a stack overflow fails the test.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    reducer(); // load the release on the test's own thread
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic on the small stack")
}

fn too_long_name(e: &TypingError, len: usize) {
    assert_eq!(
        e.reason,
        Reason::TooLong {
            what: "allele name",
            len,
            max: MAX_NAME_LEN,
            unit: "characters"
        },
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("allele name of {len} characters: at most 64")),
        "{e}"
    );
    assert!(
        e.token.len() < 64,
        "the error does not echo the whole input"
    );
}

fn too_long_gl(e: &TypingError, len: usize) {
    assert_eq!(
        e.reason,
        Reason::TooLong {
            what: "GL String",
            len,
            max: MAX_GL_LEN,
            unit: "bytes"
        },
        "{e}"
    );
    assert!(e
        .to_string()
        .contains(&format!("GL String of {len} bytes: at most 65536")));
}

/// Validate, reduce (every level), expand and split_loci, all refusing by `check`.
fn all_refuse(text: String, check: fn(&TypingError, usize), len: usize) -> Result<(), LocusError> {
    small_stack(move || {
        let r = reducer();
        check(&r.validate(&text).unwrap_err(), len);
        for to in Reduction::ALL {
            check(&r.reduce(&text, to).unwrap_err(), len);
        }
        check(&r.expand(&text).unwrap_err(), len);
        check(&r.normalize(&text).unwrap_err(), len);
        check(&Gl::parse(&text).unwrap_err(), len);
        split_loci(&text).map(|_| ())
    })
}

#[test]
fn a_star_and_sixty_thousand_nines() {
    let text = format!("A*{}", "9".repeat(60_000));
    let e = all_refuse(text, too_long_name, 60_002).unwrap_err();
    assert_eq!(
        e.to_string(),
        "allele name of 60002 characters: at most 64",
        "{e:?}"
    );
}

#[test]
fn a_field_of_ten_thousand_digits() {
    let text = format!("A*01:{}", "7".repeat(10_000));
    let e = all_refuse(text, too_long_name, 10_005).unwrap_err();
    assert!(
        matches!(e, LocusError::Limit(Reason::TooLong { .. })),
        "{e}"
    );
}

#[test]
fn digit_runs_up_to_the_limit_are_answered_at_once() {
    // the recursive split took seconds at 70 digits; now any run within the limit is a
    // plain unknown allele (or a v2 name), every length
    small_stack(|| {
        let r = reducer();
        for n in [10, 30, 60, 62] {
            let t = format!("A*{}", "9".repeat(n));
            let e = r.validate(&t).unwrap_err();
            assert_eq!(e.reason, Reason::UnknownAllele, "{n} digits: {e}");
            assert!(r.reduce(&t, Reduction::G).is_err());
            let t = format!("A*01:01:{}", "9".repeat(n.min(56)));
            assert_eq!(r.validate(&t).unwrap_err().reason, Reason::UnknownAllele);
        }
        // a name of exactly 64 characters is read; 65 is refused
        let t = format!("A*01:{}", "0".repeat(59));
        assert_eq!(t.len(), 64);
        assert_eq!(r.validate(&t).unwrap_err().reason, Reason::UnknownAllele);
        too_long_name(&r.validate(&format!("{t}0")).unwrap_err(), 65);
        // v2 names still read
        assert_eq!(r.normalize("A*0101").unwrap(), "A*01:01");
    });
}

#[test]
fn a_hundred_thousand_alleles() {
    let text = vec!["A*01:01"; 100_000].join("/");
    let len = text.len();
    let e = all_refuse(text, too_long_gl, len).unwrap_err();
    assert!(e.to_string().contains("GL String of 799999 bytes"), "{e}");
}

#[test]
fn a_megabyte_gl_string() {
    let text = "A*01:01+A*02:01^B*08:01~C*07:01|".repeat(1 << 15);
    assert_eq!(text.len(), 1 << 20);
    let e = all_refuse(text, too_long_gl, 1 << 20).unwrap_err();
    assert!(
        matches!(e, LocusError::Limit(Reason::TooLong { .. })),
        "{e}"
    );
}

#[test]
fn more_than_ten_thousand_tokens() {
    let text = vec!["A1"; 12_000].join("/");
    assert!(text.len() <= MAX_GL_LEN);
    let check = |e: &TypingError, _: usize| {
        assert_eq!(
            e.reason,
            Reason::TooMany {
                what: "alleles (tokens) in one typing",
                count: 12_000,
                max: MAX_TOKENS
            },
            "{e}"
        );
        assert!(e
            .to_string()
            .contains("12000 alleles (tokens) in one typing: at most 10000"));
    };
    let e = all_refuse(text, check, 0).unwrap_err();
    assert!(
        matches!(e, LocusError::Limit(Reason::TooMany { .. })),
        "{e}"
    );
    // 10,000 tokens are read
    small_stack(|| {
        let text = vec!["A1"; MAX_TOKENS].join("/");
        let r = reducer();
        assert!(r.validate(&text).is_ok());
        assert_eq!(r.reduce(&text, Reduction::S).unwrap(), "A1");
        assert_eq!(split_loci(&text).unwrap()[0].locus, "A");
    });
}

#[test]
fn repeated_operators() {
    small_stack(|| {
        let r = reducer();
        for op in ["^", "|", "+", "~", "/"] {
            // operators alone: too many tokens, or an empty operand at the start
            let many = op.repeat(60_000);
            let e = r.validate(&many).unwrap_err();
            assert!(matches!(e.reason, Reason::TooMany { .. }), "{e}");
            assert!(split_loci(&many).is_err());
            let few = op.repeat(5_000);
            let e = r.reduce(&few, Reduction::G).unwrap_err();
            assert_eq!((e.reason, e.position), (Reason::EmptyOperand, 0));
            // one allele repeated under the operator, up to the token limit
            let text = vec!["A*01:01"; 8_000].join(op);
            assert!(r.validate(&text).is_ok(), "{op}");
            assert!(r.reduce(&text, Reduction::Lgx).is_ok(), "{op}");
            let _ = split_loci(&text);
        }
        // every operator, nested in turn, 7,000 tokens deep
        let ops = ["^", "|", "+", "~", "/"];
        let mut text = String::new();
        for i in 0..7_000 {
            if i > 0 {
                text.push_str(ops[i % 5]);
            }
            text.push_str("B*08:01");
        }
        assert!(r.validate(&text).is_ok());
        for to in Reduction::ALL {
            assert!(r.reduce(&text, to).is_ok());
        }
        let _ = split_loci(&text);
        let gl = Gl::parse(&text).unwrap();
        assert_eq!(gl.to_string(), text);
    });
}

const PIECES: &[&str] = &[
    "A", "*", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", "/", "^", "|", "+", "~", "-",
    "HLA-", "H", "L", "99999999", "A*01:01", "A*",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_over_the_gl_alphabet_never_panics(
        s in "[A*0-9:/^|+~HL-]{0,2000}",
        i in 0usize..8,
    ) {
        let r = reducer();
        let _ = r.validate(&s);
        let _ = r.reduce(&s, Reduction::ALL[i]);
        let _ = split_loci(&s);
    }

    #[test]
    fn random_pieces_over_the_gl_alphabet_never_panic(
        v in prop::collection::vec(prop::sample::select(PIECES), 0..2000),
        i in 0usize..8,
    ) {
        let s: String = v.concat();
        let r = reducer();
        if let Err(e) = r.validate(&s) {
            prop_assert!(e.position <= s.len());
        }
        let _ = r.reduce(&s, Reduction::ALL[i]);
        let _ = split_loci(&s);
    }
}
