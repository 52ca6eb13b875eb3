//! Login throttling that slows guessing without locking the right password out.
//!
//! Two counters, each with [`FREE_ATTEMPTS`] free failures and then a doubling wait (1 s,
//! 2 s, 4 s ... up to 15 minutes) counted from the last failure:
//!
//! - **per source address** (this module, in the memory of the server): every failed
//!   login from an address, whatever the user name, known or not. An address that keeps
//!   failing waits, for every account; other addresses do not. IPv6 addresses count by
//!   their /64 (one host usually has a whole /64 to pick from). A source is forgotten an
//!   hour after its last failure.
//! - **per account** (the `failed_logins` of the account, in the security database, so
//!   every server of a registry shares it): failures from anywhere. Its wait applies only
//!   to attempts *from a source that has itself failed on this account* (and has not
//!   logged into it since); a source that never failed on the account, or that logged into
//!   it successfully before (a known-good source), is not held by it.
//!
//! So an attacker who fails 50 times from address A makes A wait, and makes A (and every
//! other address it fails from) wait on that account, but the coordinator's password from
//! address B still logs in at once. An attacker with many addresses gets each address's
//! first failure on the account, and then waits on it like the others: the account's
//! wait counts from its last failure from anywhere.
//!
//! The wait is checked before the password, and a refused attempt is answered 429 with
//! the seconds left, without looking at the password. Both counters reach every user
//! name alike, whether the account exists or not.
//!
//! The tables are bounded ([`MAX_ENTRIES`] each): when full, forgotten entries go first,
//! then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed (from one source, or on one account) before each further
/// attempt waits.
pub const FREE_ATTEMPTS: u32 = 5;
/// The longest wait, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 900;
/// A source (or a source's failures on an account) is forgotten this long after its
/// last failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Known-good pairs (an account logged into from a source) are kept this long.
pub const KNOWN_GOOD_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Entries kept in each table at most.
pub const MAX_ENTRIES: usize = 100_000;

/// The wait, in seconds, after `failures` failed logins (none within the free ones).
pub fn wait_after(failures: u32) -> u64 {
    if failures < FREE_ATTEMPTS {
        return 0;
    }
    (1u64 << (failures - FREE_ATTEMPTS).min(10)).min(MAX_WAIT_SECONDS)
}

/// How an address counts: an IPv4 address (an IPv4-mapped IPv6 one too) as itself, an
/// IPv6 address by its /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    /// The source has failed on the account since it last logged into it.
    failed_at: Option<Instant>,
    /// The source logged into the account successfully.
    good_at: Option<Instant>,
}

impl Pair {
    fn last(&self) -> Option<Instant> {
        self.failed_at.max(self.good_at)
    }

    /// Failures forgotten after an hour, a known-good source after thirty days.
    fn stale(&self, now: Instant) -> bool {
        let old = |at: Option<Instant>, after: Duration| {
            at.is_none_or(|a| now.saturating_duration_since(a) > after)
        };
        old(self.failed_at, FORGET_AFTER) && old(self.good_at, KNOWN_GOOD_FOR)
    }
}

#[derive(Default)]
struct Tables {
    sources: HashMap<IpAddr, Failures>,
    pairs: HashMap<(String, IpAddr), Pair>,
}

/// The per-source half of login throttling, and what the per-account half needs to know
/// about each source (has it failed on the account, has it logged in).
#[derive(Default)]
pub struct LoginThrottle {
    tables: Mutex<Tables>,
}

/// The key of an account in the tables (user names are at most 64 characters; longer
/// ones are no account and are kept short).
fn account_key(user: &str) -> String {
    user.chars().take(64).collect()
}

impl LoginThrottle {
    pub fn new() -> LoginThrottle {
        LoginThrottle::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds `source` must still wait before any login (its own failures).
    pub fn source_wait(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let t = self.tables();
        let f = t.sources.get(&source_key(source))?;
        left(wait_after(f.count), f.last, now)
    }

    /// Whether the account's wait holds attempts on `user` from `source`: the source
    /// failed on the account (since it last logged into it) and is not known-good.
    pub fn account_wait_applies(&self, user: &str, source: IpAddr) -> bool {
        let t = self.tables();
        match t.pairs.get(&(account_key(user), source_key(source))) {
            None => false,
            Some(p) => p.failed_at.is_some() && p.good_at.is_none(),
        }
    }

    /// A failed login on `user` from `source`.
    pub fn failed(&self, user: &str, source: IpAddr, now: Instant) {
        let mut t = self.tables();
        let key = source_key(source);
        if !t.sources.contains_key(&key) && t.sources.len() >= MAX_ENTRIES {
            prune(
                &mut t.sources,
                |f| Some(f.last),
                |f| now.saturating_duration_since(f.last) > FORGET_AFTER,
            );
        }
        let f = t.sources.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        // a source quiet for an hour starts again
        if now.saturating_duration_since(f.last) > FORGET_AFTER {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        let pair = (account_key(user), key);
        if !t.pairs.contains_key(&pair) && t.pairs.len() >= MAX_ENTRIES {
            prune(&mut t.pairs, Pair::last, |p| p.stale(now));
        }
        t.pairs.entry(pair).or_default().failed_at = Some(now);
    }

    /// A successful login on `user` from `source`: the source is known-good for the
    /// account (its failures there are forgotten; its own count stays).
    pub fn succeeded(&self, user: &str, source: IpAddr, now: Instant) {
        let mut t = self.tables();
        let pair = (account_key(user), source_key(source));
        if !t.pairs.contains_key(&pair) && t.pairs.len() >= MAX_ENTRIES {
            prune(&mut t.pairs, Pair::last, |p| p.stale(now));
        }
        let p = t.pairs.entry(pair).or_default();
        p.failed_at = None;
        p.good_at = Some(now);
    }

    /// Entries in the tables (sources, pairs).
    pub fn len(&self) -> (usize, usize) {
        let t = self.tables();
        (t.sources.len(), t.pairs.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// Seconds left of `wait` counted from `last`, if any (rounded up: never shorter than
/// it says).
fn left(wait: u64, last: Instant, now: Instant) -> Option<u64> {
    if wait == 0 {
        return None;
    }
    let end = last + Duration::from_secs(wait);
    let rest = end.checked_duration_since(now)?;
    if rest.is_zero() {
        return None;
    }
    Some(rest.as_secs() + u64::from(rest.subsec_nanos() > 0))
}

/// Make room in a full table: entries `stale` says are forgotten go; if that frees less
/// than a tenth, the oldest tenth goes too.
fn prune<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    last: impl Fn(&V) -> Option<Instant>,
    stale: impl Fn(&V) -> bool,
) {
    let before = map.len();
    map.retain(|_, v| !stale(v));
    if map.len() + before / 10 > before {
        let mut ages: Vec<(Instant, K)> = map
            .iter()
            .filter_map(|(k, v)| last(v).map(|l| (l, k.clone())))
            .collect();
        ages.sort_by_key(|(l, _)| *l);
        for (_, k) in ages.into_iter().take(before / 10 + 1) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn waits_double_after_the_free_attempts_up_to_fifteen_minutes() {
        assert_eq!(wait_after(0), 0);
        assert_eq!(wait_after(4), 0);
        assert_eq!(wait_after(5), 1);
        assert_eq!(wait_after(6), 2);
        assert_eq!(wait_after(14), 512);
        assert_eq!(wait_after(15), 900);
        assert_eq!(wait_after(u32::MAX), 900);
    }

    #[test]
    fn a_failing_source_waits_and_another_does_not() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..50 {
            t.failed("ann", a, now);
        }
        assert_eq!(t.source_wait(a, now), Some(900));
        assert_eq!(t.source_wait(b, now), None);
        assert!(t.account_wait_applies("ann", a));
        assert!(!t.account_wait_applies("ann", b));
        assert!(!t.account_wait_applies("bob", a));
        // after the wait, the source may try again
        assert_eq!(t.source_wait(a, now + Duration::from_secs(901)), None);
    }

    #[test]
    fn a_known_good_source_is_not_held_by_the_account_wait() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        let b = ip("192.0.2.2");
        t.succeeded("ann", b, now);
        t.failed("ann", b, now);
        assert!(!t.account_wait_applies("ann", b));
        // a fresh source that failed is held, until it logs in
        let c = ip("192.0.2.3");
        t.failed("ann", c, now);
        assert!(t.account_wait_applies("ann", c));
        t.succeeded("ann", c, now);
        assert!(!t.account_wait_applies("ann", c));
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            source_key(ip("2001:db8:1:2:aaaa::1")),
            source_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            source_key(ip("2001:db8:1:2::1")),
            source_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn the_tables_stay_bounded() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed("x", a, now);
        }
        let (s, p) = t.len();
        assert!(s <= MAX_ENTRIES && p <= MAX_ENTRIES, "{s} {p}");
    }
}
