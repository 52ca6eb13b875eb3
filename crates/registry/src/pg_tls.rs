//! PostgreSQL connections with TLS as libpq's URL parameters ask (rustls, the workspace's
//! one TLS stack, through tokio-postgres-rustls):
//!
//! | `sslmode` | here |
//! |---|---|
//! | `disable` | plain TCP |
//! | `allow`, `prefer` (the default) | TLS when the server offers it, else plain; the certificate is not checked (encryption only) |
//! | `require` | TLS or no connection; the certificate is not checked, unless `sslrootcert` is given: then as `verify-ca` (as libpq does) |
//! | `verify-ca` | TLS; the chain must lead to `sslrootcert` (the system's roots when absent or `system`); the host name is not compared |
//! | `verify-full` | as `verify-ca`, and the certificate must name the host |
//!
//! `sslrootcert` (a PEM file of CA certificates, or `system`) is Medulla's to read: it is
//! taken out of the URL before the rest goes to the `postgres` crate, which does not know
//! it (nor `verify-ca`/`verify-full`). `allow` differs from libpq, which tries plain
//! first. Client certificates (`sslcert`, `sslkey`) are not supported.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use medulla_tls::verify::{ChainOnly, EncryptOnly};
use postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::{DbError, Result};

/// What an URL's `sslmode` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where the roots of `verify-ca`/`verify-full` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    System,
    File(PathBuf),
}

/// An URL read: the part the `postgres` crate parses, and the TLS it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The URL without `sslmode` and `sslrootcert`.
    pub rest: String,
    pub mode: Mode,
    pub root: Option<Roots>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read the TLS parameters of a `postgres://` URL (a key=value connection string is
/// passed on as it is, with the `postgres` crate's own `sslmode`).
pub fn parse(url: &str) -> Result<Parsed> {
    let bad = |m: String| DbError::Usage(format!("database URL: {m}"));
    let (base, query) = match url.split_once('?') {
        Some((b, q)) if url.contains("://") => (b, q),
        _ => {
            return Ok(Parsed {
                rest: url.to_string(),
                mode: Mode::Prefer,
                root: None,
            })
        }
    };
    let mut mode = Mode::Prefer;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(k).as_str() {
            "sslmode" => {
                mode = match percent_decode(v).as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(bad(format!(
                    "sslmode={other:?}: disable, allow, prefer, require, verify-ca or verify-full"
                )))
                    }
                }
            }
            "sslrootcert" => {
                let v = percent_decode(v);
                if v.is_empty() {
                    return Err(bad("sslrootcert names no file".into()));
                }
                root = Some(if v == "system" {
                    Roots::System
                } else {
                    Roots::File(PathBuf::from(v))
                });
            }
            "sslcert" | "sslkey" => {
                return Err(bad(format!(
                    "{k}: client certificates are not supported (use a password)"
                )))
            }
            _ => kept.push(pair),
        }
    }
    // libpq: a root file makes `require` check the chain
    if mode == Mode::Require && root.is_some() {
        mode = Mode::VerifyCa;
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Parsed { rest, mode, root })
}

fn roots(root: &Option<Roots>) -> Result<medulla_tls::rustls::RootCertStore> {
    let tls = |e: medulla_tls::TlsError| DbError::Usage(format!("database URL sslrootcert: {e}"));
    match root {
        Some(Roots::File(f)) => medulla_tls::file_roots(std::slice::from_ref(f)).map_err(tls),
        Some(Roots::System) | None => medulla_tls::roots(&[]).map_err(tls),
    }
}

/// The TLS client configuration `p` asks for (`None`: plain TCP).
pub fn tls_config(p: &Parsed) -> Result<Option<Arc<medulla_tls::rustls::ClientConfig>>> {
    let tls = |e: medulla_tls::TlsError| DbError::Usage(format!("database TLS: {e}"));
    Ok(match p.mode {
        Mode::Disable => None,
        Mode::Prefer | Mode::Require => {
            Some(medulla_tls::client_config_with(EncryptOnly::new()).map_err(tls)?)
        }
        Mode::VerifyCa => Some(
            medulla_tls::client_config_with(ChainOnly::new(roots(&p.root)?).map_err(tls)?)
                .map_err(tls)?,
        ),
        Mode::VerifyFull => Some(medulla_tls::client_config(roots(&p.root)?).map_err(tls)?),
    })
}

/// Connect to the server of `url` with the TLS its parameters ask.
pub fn connect(url: &str) -> Result<postgres::Client> {
    let p = parse(url)?;
    let mut config = postgres::Config::from_str(&p.rest)?;
    match tls_config(&p)? {
        None => {
            config.ssl_mode(SslMode::Disable);
            config
                .connect(postgres::NoTls)
                .map_err(crate::db::DbError::Connect)
        }
        Some(tls) => {
            // a key=value string keeps its own sslmode
            if p.rest.contains("://") {
                config.ssl_mode(if p.mode == Mode::Prefer {
                    SslMode::Prefer
                } else {
                    SslMode::Require
                });
            }
            config
                .connect(MakeRustlsConnect::new((*tls).clone()))
                .map_err(crate::db::DbError::Connect)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medulla_parameters_are_taken_out_and_the_rest_passed_on() {
        let p = parse("postgres://u@127.0.0.1:5432/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=5").unwrap();
        assert_eq!(p.rest, "postgres://u@127.0.0.1:5432/db?connect_timeout=5");
        assert_eq!(p.mode, Mode::VerifyFull);
        assert_eq!(p.root, Some(Roots::File("/tmp/ca.pem".into())));
        postgres::Config::from_str(&p.rest).unwrap();

        let p = parse("postgres://u@h/db").unwrap();
        assert_eq!(
            (p.rest.as_str(), p.mode, p.root),
            ("postgres://u@h/db", Mode::Prefer, None)
        );
        assert_eq!(
            parse("postgres://u@h/db?sslmode=disable").unwrap().mode,
            Mode::Disable
        );
        assert_eq!(
            parse("postgres://u@h/db?sslmode=allow").unwrap().mode,
            Mode::Prefer
        );
        assert_eq!(
            parse("postgres://u@h/db?sslmode=require").unwrap().mode,
            Mode::Require
        );
        // a root file makes require check the chain, as in libpq
        let p = parse("postgres://u@h/db?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(p.mode, Mode::VerifyCa);
        assert_eq!(p.rest, "postgres://u@h/db");
        let p = parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!((p.mode, p.root), (Mode::VerifyCa, Some(Roots::System)));
        assert!(parse("postgres://u@h/db?sslmode=sometimes").is_err());
        assert!(parse("postgres://u@h/db?sslcert=c.pem").is_err());
        assert!(parse("postgres://u@h/db?sslrootcert=").is_err());
        // key=value strings are the postgres crate's
        let p = parse("host=h user=u sslmode=require").unwrap();
        assert_eq!(p.rest, "host=h user=u sslmode=require");
    }

    #[test]
    fn each_mode_gets_its_tls() {
        for (url, tls) in [
            ("postgres://u@h/db?sslmode=disable", false),
            ("postgres://u@h/db", true),
            ("postgres://u@h/db?sslmode=require", true),
            ("postgres://u@h/db?sslmode=verify-full", true),
        ] {
            assert_eq!(
                tls_config(&parse(url).unwrap()).unwrap().is_some(),
                tls,
                "{url}"
            );
        }
        let missing =
            parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").unwrap();
        let e = tls_config(&missing).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
