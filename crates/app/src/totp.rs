//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 6 digits,
//! 30-second steps, one step of clock drift either way. A code is taken only for a step
//! later than the last one taken (the caller stores it), so it is never accepted twice.
//! Secrets are 160 bits, written in base32 (RFC 4648, no padding) as authenticator apps
//! read them from an `otpauth://` URI.

use hmac::Mac;

use crate::error::AppError;

/// Seconds of one time step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either side of now.
pub const DRIFT_STEPS: u64 = 1;
/// The issuer an authenticator app shows.
pub const ISSUER: &str = "Medulla";

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// RFC 4226's HOTP value of `counter` under `key`, `digits` digits (at most 9).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it
    let mut mac = match HmacSha1::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return u32::MAX,
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    // dynamic truncation: the low nibble of the last byte says where 31 bits start
    let at = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[at] & 0x7f) << 24)
        | (u32::from(h[at + 1]) << 16)
        | (u32::from(h[at + 2]) << 8)
        | u32::from(h[at + 3]);
    bin % 10u32.pow(digits.min(9))
}

/// The time step of a Unix time.
pub fn step_of(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The code of `key` at a Unix time, `digits` digits with leading zeros.
pub fn code_at(key: &[u8], unix_seconds: u64, digits: u32) -> String {
    format!(
        "{:0width$}",
        hotp(key, step_of(unix_seconds), digits),
        width = digits as usize
    )
}

/// The step whose code `code` is, within the drift of `unix_seconds` and later than
/// `last_step` (the last one taken), if any. Codes are compared in constant time.
pub fn matching_step(
    key: &[u8],
    code: &str,
    unix_seconds: u64,
    last_step: Option<i64>,
) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    let mut found = None;
    for step in now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS {
        let expected = format!("{:06}", hotp(key, step, DIGITS));
        let same = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        let fresh = last_step.is_none_or(|l| l < 0 || (step as i64) > l);
        if same && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret: 20 bytes (160 bits, RFC 4226's recommendation).
pub fn new_secret() -> Result<Vec<u8>, AppError> {
    let mut b = vec![0u8; 20];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    Ok(b)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Base32 back to bytes (case, spaces and padding ignored); `None` for another character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        if c == b'=' || c == b' ' {
            continue;
        }
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// The `otpauth://` URI of a secret for `user` (what an authenticator app scans).
pub fn otpauth_uri(user: &str, secret_b32: &str) -> String {
    let label = percent(&format!("{ISSUER}:{user}"));
    format!(
        "otpauth://totp/{label}?secret={secret_b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    /// RFC 6238, Appendix B, the SHA-1 column.
    const VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for (t, expected) in VECTORS {
            assert_eq!(code_at(RFC_KEY, t, 8), expected, "T = {t}");
            assert_eq!(code_at(RFC_KEY, t, 6), &expected[2..], "T = {t}, 6 digits");
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let expected = [755224, 287082, 359152, 969429, 338314];
        for (c, e) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, c as u64, 6), *e);
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_never_the_same_step_twice() {
        let t = 1_111_111_111;
        let now = code_at(RFC_KEY, t, 6);
        assert_eq!(matching_step(RFC_KEY, &now, t, None), Some(step_of(t)));
        let before = code_at(RFC_KEY, t - 30, 6);
        let after = code_at(RFC_KEY, t + 30, 6);
        assert!(matching_step(RFC_KEY, &before, t, None).is_some());
        assert!(matching_step(RFC_KEY, &after, t, None).is_some());
        let far = code_at(RFC_KEY, t - 90, 6);
        assert_eq!(matching_step(RFC_KEY, &far, t, None), None);
        // taken once: refused for that step and any earlier one
        let taken = step_of(t) as i64;
        assert_eq!(matching_step(RFC_KEY, &now, t, Some(taken)), None);
        assert_eq!(matching_step(RFC_KEY, &before, t, Some(taken)), None);
        assert!(matching_step(RFC_KEY, &after, t, Some(taken)).is_some());
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(matching_step(RFC_KEY, bad, t, None), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trips_rfc_4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1"), None);
        let secret = new_secret().unwrap();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        let uri = otpauth_uri("ann", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/Medulla%3Aann?secret=JBSWY3DPEHPK3PXP&issuer=Medulla&algorithm=SHA1&digits=6&period=30"
        );
    }
}
