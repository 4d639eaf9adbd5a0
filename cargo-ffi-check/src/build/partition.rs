//! `--partition hash:M/N` and `--partition slice:M/N`: run one of N shares
//! of the selected tests, so that N CI jobs together run every test once.
//!
//! As in cargo-nextest, partitioning applies after every other selection
//! (filters, `--skip`, `--ignored`), to tests (each share runs every seed of
//! its tests), and M counts from 1:
//!
//! - `slice:M/N` deals the selected tests, in `--list` order, round-robin
//!   across all binaries: the first test to share 1, the second to share 2, ...
//!   Shares are as even as they can be, but a test can change share when
//!   tests are added or removed before it.
//! - `hash:M/N` puts each test in share `hash(binary id, test name) mod N + 1`.
//!   A test's share depends on nothing but its own name (stable as the test
//!   suite changes), at the price of less even shares.

use std::fmt;

/// Which share of the selected tests to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// How tests are assigned to shares.
    pub kind: Kind,
    /// The share to run, 1-based.
    pub shard: u64,
    /// The number of shares.
    pub total: u64,
}

/// How tests are assigned to shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By a hash of the binary id and the test name.
    Hash,
    /// Round-robin over the selected tests in order.
    Slice,
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Hash => "hash",
            Kind::Slice => "slice",
        };
        write!(f, "{kind}:{}/{}", self.shard, self.total)
    }
}

const USAGE: &str = "expected hash:M/N or slice:M/N with 1 <= M <= N, e.g. hash:1/3";

impl Partition {
    /// Parses `hash:M/N` or `slice:M/N`; errors say what is wrong.
    pub fn parse(spec: &str) -> Result<Partition, String> {
        let (kind, share) = spec
            .split_once(':')
            .ok_or_else(|| format!("`{spec}` is not a partition; {USAGE}"))?;
        let kind = match kind {
            "hash" => Kind::Hash,
            "slice" => Kind::Slice,
            "count" => {
                return Err(format!(
                    "`count:` partitioning is not supported (it is per binary); {USAGE}"
                ))
            }
            other => return Err(format!("unknown partition kind `{other}`; {USAGE}")),
        };
        let (m, n) = share
            .split_once('/')
            .ok_or_else(|| format!("`{spec}` has no `/`; {USAGE}"))?;
        let number = |s: &str| -> Result<u64, String> {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{s}` in `{spec}` is not a number; {USAGE}"))
        };
        let (shard, total) = (number(m)?, number(n)?);
        if total == 0 {
            return Err(format!("`{spec}`: the number of shares must be at least 1"));
        }
        if shard == 0 || shard > total {
            return Err(format!(
                "`{spec}`: share {shard} does not exist, shares are numbered 1 to {total}"
            ));
        }
        Ok(Partition { kind, shard, total })
    }

    /// The items in this share, in their order; `key` names an item for
    /// hashing (binary id and test name).
    pub fn apply<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, item)| {
                let bucket = match self.kind {
                    Kind::Slice => *i as u64 % self.total,
                    Kind::Hash => tracer::hash::fnv1a(key(item).as_bytes()) % self.total,
                };
                bucket + 1 == self.shard
            })
            .map(|(_, item)| item)
            .collect()
    }
}

/// The hashing key of a test: binary id and test name.
pub fn key(binary_id: &str, test: &str) -> String {
    format!("{binary_id}\u{0}{test}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        let p = Partition::parse("hash:2/3").unwrap();
        assert_eq!((p.kind, p.shard, p.total), (Kind::Hash, 2, 3));
        assert_eq!(p.to_string(), "hash:2/3");
        let p = Partition::parse("slice:1/1").unwrap();
        assert_eq!((p.kind, p.shard, p.total), (Kind::Slice, 1, 1));
    }

    #[test]
    fn rejects_bad_shares() {
        for (spec, says) in [
            ("hash:0/3", "numbered 1 to 3"),
            ("hash:4/3", "numbered 1 to 3"),
            ("slice:1/0", "at least 1"),
            ("slice:x/3", "not a number"),
            ("slice:1", "no `/`"),
            ("round:1/2", "unknown partition kind `round`"),
            ("1/2", "not a partition"),
            ("count:1/2", "not supported"),
        ] {
            let err = Partition::parse(spec).unwrap_err();
            assert!(err.contains(says), "{spec}: {err}");
        }
    }

    fn shares(kind: Kind, n: u64, items: &[String]) -> Vec<Vec<String>> {
        (1..=n)
            .map(|shard| {
                Partition {
                    kind,
                    shard,
                    total: n,
                }
                .apply(items.to_vec(), |s| s.clone())
            })
            .collect()
    }

    #[test]
    fn shares_are_disjoint_and_cover_everything() {
        let items: Vec<String> = (0..50).map(|i| format!("pkg t{i}")).collect();
        for kind in [Kind::Hash, Kind::Slice] {
            let parts = shares(kind, 3, &items);
            let mut all: Vec<String> = parts.concat();
            all.sort();
            let mut expected = items.clone();
            expected.sort();
            assert_eq!(all, expected, "{kind:?}");
            assert!(parts.iter().all(|p| !p.is_empty()), "{kind:?}: {parts:?}");
        }
    }

    #[test]
    fn slices_deal_round_robin() {
        let items: Vec<String> = (0..7).map(|i| i.to_string()).collect();
        assert_eq!(shares(Kind::Slice, 3, &items)[0], ["0", "3", "6"]);
        assert_eq!(shares(Kind::Slice, 3, &items)[2], ["2", "5"]);
    }

    #[test]
    fn a_hashed_share_depends_only_on_the_test_itself() {
        let items: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let before = shares(Kind::Hash, 4, &items);
        let fewer: Vec<String> = items[5..].to_vec();
        let after = shares(Kind::Hash, 4, &fewer);
        for (b, a) in before.iter().zip(&after) {
            let b: Vec<&String> = b.iter().filter(|t| fewer.contains(t)).collect();
            assert_eq!(b, a.iter().collect::<Vec<_>>());
        }
    }
}
