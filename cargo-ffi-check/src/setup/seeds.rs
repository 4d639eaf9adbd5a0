//! The `--seeds` argument: `7`, `0..16`, `..8`, `0..=15`, `1,5,9`.

use std::fmt;

/// Refuse seed sets larger than this: they are almost certainly a typo.
const MAX_SEEDS: u64 = 65_536;

/// A non-empty, sorted, duplicate-free set of seeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(Vec<u64>);

impl Seeds {
    /// The seeds, ascending.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// Parses a seed specification; errors say what is wrong and what is accepted.
    pub fn parse(spec: &str) -> Result<Seeds, String> {
        let mut seeds = Vec::new();
        for part in spec.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("empty seed in `{spec}`; {}", usage()));
            }
            if let Some((lo, hi)) = part.split_once("..") {
                let (hi, inclusive) = match hi.strip_prefix('=') {
                    Some(h) => (h, true),
                    None => (hi, false),
                };
                let lo = if lo.is_empty() { 0 } else { number(lo, spec)? };
                let hi = number(hi, spec)?;
                let end = if inclusive {
                    hi.checked_add(1)
                } else {
                    Some(hi)
                }
                .ok_or_else(|| format!("seed range `{part}` is too large; {}", usage()))?;
                if end <= lo {
                    return Err(format!("seed range `{part}` is empty; {}", usage()));
                }
                if end - lo > MAX_SEEDS {
                    return Err(format!(
                        "seed range `{part}` has {} seeds, more than the {MAX_SEEDS} allowed",
                        end - lo
                    ));
                }
                seeds.extend(lo..end);
            } else {
                seeds.push(number(part, spec)?);
            }
        }
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() as u64 > MAX_SEEDS {
            return Err(format!(
                "{} seeds are more than the {MAX_SEEDS} allowed",
                seeds.len()
            ));
        }
        Ok(Seeds(seeds))
    }
}

fn usage() -> &'static str {
    "expected a seed (`7`), a range (`0..16`, `..8`, `0..=15`) or a list (`1,5,9`)"
}

fn number(s: &str, spec: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` in `{spec}` is not a seed (a non-negative integer); {}",
            usage()
        )
    })
}

impl fmt::Display for Seeds {
    /// Compact form: runs of consecutive seeds as ranges (`0..4,9`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut j = i;
            while j + 1 < self.0.len() && self.0[j + 1] == self.0[j] + 1 {
                j += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if j > i + 1 {
                write!(f, "{start}..{}", self.0[j] + 1)?;
                i = j + 1;
            } else {
                write!(f, "{start}")?;
                i += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(s: &str) -> Vec<u64> {
        Seeds::parse(s).unwrap().0
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(seeds("7"), [7]);
        assert_eq!(seeds("0..4"), [0, 1, 2, 3]);
        assert_eq!(seeds("..3"), [0, 1, 2]);
        assert_eq!(seeds("2..=4"), [2, 3, 4]);
        assert_eq!(seeds("9,1,5,1"), [1, 5, 9]);
        assert_eq!(seeds("0..2, 10"), [0, 1, 10]);
    }

    #[test]
    fn rejects_bad_ranges_with_a_reason() {
        assert!(Seeds::parse("5..2").unwrap_err().contains("is empty"));
        assert!(Seeds::parse("3..3").unwrap_err().contains("is empty"));
        assert!(Seeds::parse("x").unwrap_err().contains("not a seed"));
        assert!(Seeds::parse("-1").unwrap_err().contains("not a seed"));
        assert!(Seeds::parse("1,,2").unwrap_err().contains("empty seed"));
        assert!(Seeds::parse("0..1000000")
            .unwrap_err()
            .contains("more than"));
        assert!(Seeds::parse("").is_err());
    }

    #[test]
    fn displays_runs_compactly() {
        assert_eq!(Seeds::parse("0..16").unwrap().to_string(), "0..16");
        assert_eq!(Seeds::parse("1,2,5,9").unwrap().to_string(), "1,2,5,9");
        assert_eq!(Seeds::parse("0..3,7").unwrap().to_string(), "0..3,7");
    }
}
