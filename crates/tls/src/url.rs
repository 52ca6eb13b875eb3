//! An URL's scheme and host, read without a full URL parser: enough to decide whether a
//! plain `http://` URL stays on this machine.

use std::net::IpAddr;

/// The scheme of `url` in lower case (`http`, `https`, ...), when it has one.
pub fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.trim().split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then(|| scheme.to_ascii_lowercase())
}

/// The host of `url`: without user information, port or the brackets of an IPv6 address.
pub fn host(url: &str) -> Option<&str> {
    let (_, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then_some(host)
}

/// Whether `host` is this machine: `localhost` (or a name under it), 127.0.0.0/8, ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

/// Whether the host of `url` is loopback.
pub fn is_loopback_url(url: &str) -> bool {
    host(url).is_some_and(is_loopback_host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_loopback() {
        for (url, h, lo) in [
            ("http://127.0.0.1:8081", "127.0.0.1", true),
            ("http://127.8.9.10/api", "127.8.9.10", true),
            ("HTTP://LocalHost:1/", "LocalHost", true),
            ("http://[::1]:8080/x", "::1", true),
            ("http://user:pw@127.0.0.1:9", "127.0.0.1", true),
            ("http://192.0.2.1:8080", "192.0.2.1", false),
            (
                "http://localhost.evil.example",
                "localhost.evil.example",
                false,
            ),
            (
                "http://127.0.0.1.evil.example/",
                "127.0.0.1.evil.example",
                false,
            ),
            ("http://[2001:db8::1]:80", "2001:db8::1", false),
            ("http://evil.example?x=@127.0.0.1", "evil.example", false),
        ] {
            assert_eq!(host(url), Some(h), "{url}");
            assert_eq!(is_loopback_url(url), lo, "{url}");
        }
        assert_eq!(host("http://"), None);
        assert_eq!(scheme("HTTPS://x"), Some("https".into()));
        assert_eq!(scheme("x"), None);
    }
}
