//! The international search: the national search here, the same request sent to every
//! partner at once (their national search, never forwarded further), and their hits
//! merged with ours into one ranking by the engine's rank key. A partner that does not
//! answer within the deadline is named in `partners_unanswered`; the search does not
//! wait for it longer.

use std::time::Duration;

use medulla_registry::exchange::Partner;

use super::client::PartnerClient;
use crate::search::{HitView, SearchOptions};
use crate::service::SearchAnswer;

/// One partner's answer (or why there is none).
struct Reply {
    name: String,
    /// The partner's ION, when known.
    registry: Option<String>,
    answer: Result<SearchAnswer, String>,
}

/// Ask every partner in parallel, each with `timeout`.
fn ask(partners: &[Partner], options: &SearchOptions, timeout: Duration) -> Vec<Reply> {
    let mut request = options.clone();
    request.international = false;
    // a partner's unavailable donors are not offered across registries (a partner
    // registry ignores the flag from a partner account anyway)
    request.include_unavailable = false;
    let body = serde_json::to_value(&request).unwrap_or_default();
    std::thread::scope(|s| {
        let handles: Vec<_> = partners
            .iter()
            .map(|p| {
                let body = &body;
                s.spawn(move || Reply {
                    name: p.name.clone(),
                    registry: p.ion.clone(),
                    answer: PartnerClient::new(p, timeout)
                        .search(body)
                        .map_err(|e| e.to_string())
                        .and_then(|v| {
                            serde_json::from_value::<SearchAnswer>(v)
                                .map_err(|e| format!("partner {}: unreadable answer: {e}", p.name))
                        }),
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(partners)
            .map(|(h, p)| {
                h.join().unwrap_or_else(|_| Reply {
                    name: p.name.clone(),
                    registry: p.ion.clone(),
                    answer: Err(format!("partner {}: the search failed", p.name)),
                })
            })
            .collect()
    })
}

/// Merge the national answer (`ours`: this registry's ION) with the partners' into one
/// ranking of at most `options.limit` hits.
pub fn international(
    partners: &[Partner],
    options: &SearchOptions,
    national: SearchAnswer,
    ours: &str,
    timeout: Duration,
) -> SearchAnswer {
    let replies = ask(partners, options, timeout);
    merge(national, ours, replies, options.limit)
}

fn merge(national: SearchAnswer, ours: &str, replies: Vec<Reply>, limit: usize) -> SearchAnswer {
    let mut hits: Vec<(usize, HitView)> = Vec::new();
    let mut total = national.total;
    let mut warnings = national.warnings;
    let mut unanswered = Vec::new();
    for mut h in national.hits {
        h.registry = ours.to_string();
        hits.push((0, h));
    }
    for (i, r) in replies.into_iter().enumerate() {
        match r.answer {
            Ok(a) => {
                total += a.total;
                warnings.extend(
                    a.warnings
                        .into_iter()
                        .map(|w| format!("partner {}: {w}", r.name)),
                );
                for mut h in a.hits {
                    // the registry's ION; before the partner has said it, its GRIDs do
                    h.registry = r
                        .registry
                        .clone()
                        .or_else(|| h.grid.as_ref().and_then(|g| g.get(..4).map(str::to_string)))
                        .unwrap_or_else(|| r.name.clone());
                    hits.push((i + 1, h));
                }
            }
            Err(why) => {
                warnings.push(why);
                unanswered.push(r.name);
            }
        }
    }
    // one ranking: the engine's key, then national first, then each registry's order
    hits.sort_by_key(|(from, h)| (h.rank_key, *from, h.rank));
    let hits: Vec<HitView> = hits
        .into_iter()
        .take(limit)
        .enumerate()
        .map(|(i, (_, mut h))| {
            h.rank = i + 1;
            h
        })
        .collect();
    SearchAnswer {
        total,
        hits,
        warnings,
        partners_unanswered: Some(unanswered),
    }
}
