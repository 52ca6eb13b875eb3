//! The grade colours and the stylesheet. A grade is always written in letters (`M`, `P`,
//! `a`, `X`) with its meaning in words for screen readers; the colour only repeats it.
//! Every colour pair is checked against the WCAG contrast ratio for normal text (4.5:1).

/// (letter, meaning, text colour, background colour).
pub const GRADES: [(char, &str, &str, &str); 4] = [
    ('M', "allele match", "#0b3d16", "#d6f0db"),
    ('P', "potential match", "#4a3500", "#fff0bf"),
    ('a', "antigen match, allele mismatch", "#5c2600", "#ffd8b0"),
    ('X', "antigen mismatch", "#6b0000", "#f8cfcf"),
];

/// The words for a grade letter.
pub fn meaning(letter: char) -> &'static str {
    GRADES
        .iter()
        .find(|g| g.0 == letter)
        .map_or("not typed", |g| g.1)
}

/// The CSS class of a grade letter.
pub fn class(letter: char) -> &'static str {
    match letter {
        'M' => "g-m",
        'P' => "g-p",
        'a' => "g-a",
        'X' => "g-x",
        _ => "g-none",
    }
}

const BASE_CSS: &str = include_str!("../assets/medulla.css");

/// The stylesheet: the base rules and the grade colours.
pub fn stylesheet() -> String {
    let mut css = BASE_CSS.to_string();
    for (letter, _, fg, bg) in GRADES {
        css.push_str(&format!(
            ".{} {{ color: {fg}; background: {bg}; }}\n",
            class(letter)
        ));
    }
    css
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other pairs of the stylesheet: body text, links, muted text, overdue rows, the
    /// navigation bar.
    pub const OTHER_PAIRS: [(&str, &str, &str); 5] = [
        ("text", "#1a1a1a", "#ffffff"),
        ("link", "#0645ad", "#ffffff"),
        ("muted", "#555555", "#ffffff"),
        ("overdue", "#6b0000", "#fde2e2"),
        ("nav", "#ffffff", "#1f3a5f"),
    ];

    fn channel(c: u8) -> f64 {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    /// WCAG 2 relative luminance of `#rrggbb`.
    pub fn luminance(hex: &str) -> Option<f64> {
        let h = hex.strip_prefix('#')?;
        if h.len() != 6 {
            return None;
        }
        let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(0.2126 * channel(v(0)?) + 0.7152 * channel(v(2)?) + 0.0722 * channel(v(4)?))
    }

    /// WCAG 2 contrast ratio of two colours.
    pub fn contrast(a: &str, b: &str) -> Option<f64> {
        let (x, y) = (luminance(a)?, luminance(b)?);
        let (hi, lo) = if x > y { (x, y) } else { (y, x) };
        Some((hi + 0.05) / (lo + 0.05))
    }

    #[test]
    fn contrast_matches_the_wcag_reference_points() {
        assert!((contrast("#000000", "#ffffff").unwrap() - 21.0).abs() < 1e-9);
        assert!((contrast("#777777", "#ffffff").unwrap() - 4.48).abs() < 0.01);
        assert!(contrast("#fff", "#000").is_none());
    }

    #[test]
    fn every_grade_colour_reads_at_aa_for_normal_text() {
        for (letter, _, fg, bg) in GRADES {
            let c = contrast(fg, bg).unwrap();
            assert!(c >= 4.5, "grade {letter}: {fg} on {bg} is {c:.2}:1");
        }
        for (what, fg, bg) in OTHER_PAIRS {
            let c = contrast(fg, bg).unwrap();
            assert!(c >= 4.5, "{what}: {fg} on {bg} is {c:.2}:1");
        }
    }

    #[test]
    fn the_stylesheet_uses_the_checked_colours_and_only_them() {
        let css = stylesheet();
        for (_, _, fg, bg) in GRADES {
            assert!(css.contains(fg) && css.contains(bg));
        }
        for (what, fg, bg) in OTHER_PAIRS {
            assert!(css.contains(fg) && css.contains(bg), "{what}");
        }
        // any colour in the stylesheet is one of the checked ones (or a border grey)
        let checked: Vec<&str> = GRADES
            .iter()
            .flat_map(|g| [g.2, g.3])
            .chain(OTHER_PAIRS.iter().flat_map(|p| [p.1, p.2]))
            .chain(["#c8c8c8", "#f3f5f8", "#b3261e"])
            .collect();
        for (i, _) in css.match_indices('#') {
            let c = &css[i..(i + 7).min(css.len())];
            if c.len() == 7 && c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
                assert!(checked.contains(&c), "unchecked colour {c}");
            }
        }
    }
}
