//! Findings deduplicated across tests and seeds: each distinct finding
//! (by id) and everywhere it was seen.

use super::Finding;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// A distinct finding and everywhere it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Distinct {
    /// The first occurrence (its fields appear at the top level in JSON).
    #[serde(flatten)]
    pub finding: Finding,
    /// Tests that showed it (display names).
    pub tests: BTreeSet<String>,
    /// Seeds that showed it.
    pub seeds: BTreeSet<u64>,
    /// How many times it happened, over every job.
    pub count: u64,
    /// The libtest name of the first test that showed it (for the rerun command).
    pub first_test: String,
}

/// Findings deduplicated by id, in the order first seen.
#[derive(Debug, Default)]
pub struct Findings {
    order: Vec<Distinct>,
    index: HashMap<String, usize>,
}

impl Findings {
    /// Records one occurrence; returns true if it was not seen before.
    pub fn add(&mut self, f: &Finding, test_display: &str, test_name: &str, seed: u64) -> bool {
        let i = match self.index.get(&f.id) {
            Some(&i) => i,
            None => {
                self.index.insert(f.id.clone(), self.order.len());
                self.order.push(Distinct {
                    finding: f.clone(),
                    tests: BTreeSet::new(),
                    seeds: BTreeSet::new(),
                    count: 0,
                    first_test: test_name.to_string(),
                });
                self.order.len() - 1
            }
        };
        let d = &mut self.order[i];
        let new = d.count == 0;
        d.count += f.occurrences;
        d.tests.insert(test_display.to_string());
        d.seeds.insert(seed);
        new
    }

    /// The distinct findings, in the order first seen.
    pub fn all(&self) -> &[Distinct] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deduplicates_across_tests_and_seeds() {
        let f = Finding::test_failure(
            "thread 'x' panicked at src/a.rs:1:1:\nboom\n",
            "exit status: 101",
            "x",
        );
        let mut all = Findings::default();
        assert!(all.add(&f, "pkg x", "x", 0));
        assert!(!all.add(&f, "pkg y", "y", 3));
        assert_eq!(all.all().len(), 1);
        assert_eq!(all.all()[0].count, 2);
        assert_eq!(
            all.all()[0].seeds.iter().copied().collect::<Vec<_>>(),
            [0, 3]
        );
    }
}
