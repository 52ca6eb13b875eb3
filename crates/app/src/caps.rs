//! Caps on what one request may ask, so that no caller's request takes the machine from
//! the others: each refused by its name. The registry sets them once at start
//! (`medulla serve --cap NAME=N`, or `MEDULLA_CAPS=limit=500,...` for every command).

use std::sync::OnceLock;

use crate::error::AppError;

/// The caps in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Hits a search returns (`limit`).
    pub limit: usize,
    /// Hits given match probabilities (`predict_top`).
    pub predict_top: usize,
    /// Registry sizes in one likelihood table.
    pub likelihood_sizes: usize,
    /// Steps of a recruitment plan.
    pub recruit_steps: usize,
    /// Milliseconds a search may run before it is stopped (answered 503).
    pub search_ms: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            limit: 1000,
            predict_top: 1000,
            likelihood_sizes: 20,
            recruit_steps: 200,
            search_ms: 10_000,
        }
    }
}

/// The names operators set caps by.
pub const NAMES: [&str; 5] = [
    "limit",
    "predict_top",
    "likelihood_sizes",
    "recruit_steps",
    "search_ms",
];

static CAPS: OnceLock<Caps> = OnceLock::new();

impl Caps {
    /// Caps from `name=N,name=N` (names of [`NAMES`]), over the defaults.
    pub fn parse(spec: &str) -> Result<Caps, AppError> {
        let mut c = Caps::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |reason: String| AppError::Invalid {
                field: "caps".into(),
                reason,
            };
            let (name, n) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not NAME=N")))?;
            let n: usize = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("{n:?} is not a positive whole number")))?;
            match name.trim().replace('-', "_").as_str() {
                "limit" => c.limit = n,
                "predict_top" => c.predict_top = n,
                "likelihood_sizes" => c.likelihood_sizes = n,
                "recruit_steps" => c.recruit_steps = n,
                "search_ms" => c.search_ms = n as u64,
                other => {
                    return Err(bad(format!(
                        "{other:?} is not a cap ({})",
                        NAMES.join(", ")
                    )))
                }
            }
        }
        Ok(c)
    }

    /// Set the caps of this process (once; later calls change nothing).
    pub fn install(self) {
        let _ = CAPS.set(self);
    }

    /// The caps in force: as installed, else from `MEDULLA_CAPS`, else the defaults.
    pub fn get() -> Caps {
        *CAPS.get_or_init(|| {
            std::env::var("MEDULLA_CAPS")
                .ok()
                .and_then(|s| Caps::parse(&s).ok())
                .unwrap_or_default()
        })
    }

    /// `value` of `field` within the cap `name`, or refused naming the cap.
    pub fn check(field: &str, value: usize, name: &str, cap: usize) -> Result<(), AppError> {
        if value > cap {
            return Err(AppError::Invalid {
                field: field.into(),
                reason: format!(
                    "{value} is over the cap {name} = {cap} (the registry's setting: MEDULLA_CAPS or medulla serve --caps)"
                ),
            });
        }
        Ok(())
    }
}
