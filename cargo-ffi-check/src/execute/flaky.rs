//! Flaky tests: a test that passes under some seeds and fails, hangs or has
//! findings under others. Its results are collected per seed as jobs finish
//! and judged once the run is over.

use crate::execute::outcome::Status;
use serde::Serialize;
use std::collections::BTreeMap;

/// The seeds of each outcome of one test that was flaky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flaky {
    /// Seeds it passed under, ascending.
    pub passed: Vec<u64>,
    /// For each other outcome (its status word: `FAIL`, `HANG`, `SIGSEGV`,
    /// ...), the seeds that showed it, ascending.
    pub other: BTreeMap<String, Vec<u64>>,
}

/// Results per test (by its index), per seed.
#[derive(Debug, Default)]
pub struct Tracker {
    results: BTreeMap<usize, Vec<(u64, Status, String)>>,
}

impl Tracker {
    /// Notes the result of `test` under `seed`.
    pub fn add(&mut self, test: usize, seed: u64, status: Status, word: &str) {
        if matches!(status, Status::Cancelled | Status::Error) {
            return;
        }
        self.results
            .entry(test)
            .or_default()
            .push((seed, status, word.to_string()));
    }

    /// The flaky tests, by index, in test order.
    pub fn flaky(&self) -> Vec<(usize, Flaky)> {
        let mut out = Vec::new();
        for (&test, results) in &self.results {
            let mut passed: Vec<u64> = results
                .iter()
                .filter(|r| r.1 == Status::Passed)
                .map(|r| r.0)
                .collect();
            if passed.is_empty() || passed.len() == results.len() {
                continue;
            }
            passed.sort_unstable();
            let mut other: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for (seed, status, word) in results {
                if *status != Status::Passed {
                    other.entry(word.clone()).or_default().push(*seed);
                }
            }
            for seeds in other.values_mut() {
                seeds.sort_unstable();
            }
            out.push((test, Flaky { passed, other }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_passing_on_some_seeds_only_is_flaky() {
        let mut t = Tracker::default();
        for seed in [3, 0, 1, 2] {
            t.add(0, seed, Status::Passed, "PASS");
            t.add(1, seed, Status::Failed, "FAIL");
        }
        t.add(0, 5, Status::Hung, "HANG");
        t.add(0, 4, Status::Hung, "HANG");
        t.add(0, 6, Status::Failed, "FAIL");
        t.add(2, 0, Status::Passed, "PASS");
        t.add(2, 1, Status::Cancelled, "CANCEL");
        let flaky = t.flaky();
        assert_eq!(flaky.len(), 1, "{flaky:?}");
        let (test, f) = &flaky[0];
        assert_eq!(*test, 0);
        assert_eq!(f.passed, vec![0, 1, 2, 3]);
        assert_eq!(f.other["HANG"], vec![4, 5]);
        assert_eq!(f.other["FAIL"], vec![6]);
    }
}
