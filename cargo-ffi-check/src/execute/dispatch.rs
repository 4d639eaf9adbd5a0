//! Which job runs next. Tests run in order, each test's seeds in order;
//! a job may start only when its test has no other seed running (unless
//! the run isolates jobs, `--isolate`) and its test group has room. A
//! test's seeds share whatever the test shares with itself (a fixed port,
//! a fixed path under /tmp, a named semaphore): natively nextest never
//! runs one test twice at once, so tests are written assuming it. Other
//! tests fill the pool meanwhile.

use std::collections::VecDeque;

/// One test under one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Index into the test list.
    pub test: usize,
    /// The seed (the test sees it as `FFI_CHECK_SEED`).
    pub seed: u64,
}

/// What the pool may start next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// This job: it is marked running until [`Dispatch::finished`].
    Run(Job),
    /// Jobs remain, but none may start until a running one finishes.
    Wait,
    /// No job remains.
    Done,
}

/// The pending jobs and what runs, under the pool's lock.
#[derive(Debug)]
pub struct Dispatch {
    /// Tests with seeds left to run, in order.
    order: VecDeque<usize>,
    /// Each test's seeds left to run.
    seeds: Vec<VecDeque<u64>>,
    /// Each test's running jobs.
    running: Vec<usize>,
    /// Each test's group (an index into `limits`), if any.
    group_of: Vec<Option<usize>>,
    /// Each group's most jobs at once (`max-threads`).
    limits: Vec<usize>,
    /// Each group's running jobs.
    group_running: Vec<usize>,
    /// Whether seeds of one test may run at once (`--isolate`).
    seeds_at_once: bool,
}

impl Dispatch {
    /// Every test (`group_of` has one entry per test, an index into
    /// `limits`) under every seed.
    pub fn new(
        group_of: Vec<Option<usize>>,
        limits: Vec<usize>,
        seeds: &[u64],
        seeds_at_once: bool,
    ) -> Dispatch {
        let tests = group_of.len();
        Dispatch {
            order: (0..tests).filter(|_| !seeds.is_empty()).collect(),
            seeds: vec![seeds.iter().copied().collect(); tests],
            running: vec![0; tests],
            group_running: vec![0; limits.len()],
            group_of,
            limits,
            seeds_at_once,
        }
    }

    /// The first job, in order, that may start now.
    pub fn next(&mut self) -> Next {
        if self.order.is_empty() {
            return Next::Done;
        }
        let pick = self.order.iter().position(|&test| {
            (self.seeds_at_once || self.running[test] == 0)
                && self.group_of[test].is_none_or(|g| self.group_running[g] < self.limits[g])
        });
        let Some(at) = pick else {
            return Next::Wait;
        };
        let test = self.order[at];
        let seed = self.seeds[test]
            .pop_front()
            .expect("a test in the order has seeds left");
        if self.seeds[test].is_empty() {
            self.order.remove(at);
        }
        self.running[test] += 1;
        if let Some(g) = self.group_of[test] {
            self.group_running[g] += 1;
        }
        Next::Run(Job { test, seed })
    }

    /// `job`, which [`Dispatch::next`] gave, has finished.
    pub fn finished(&mut self, job: Job) {
        self.running[job.test] -= 1;
        if let Some(g) = self.group_of[job.test] {
            self.group_running[g] -= 1;
        }
    }

    /// Drops every job not started yet (the run was stopped).
    pub fn clear(&mut self) {
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(test: usize, seed: u64) -> Next {
        Next::Run(Job { test, seed })
    }

    #[test]
    fn seeds_of_one_test_never_run_at_once_while_other_tests_fill_the_pool() {
        let mut d = Dispatch::new(vec![None, None], vec![], &[0, 1, 2], false);
        assert_eq!(d.next(), run(0, 0));
        // Test 0 runs: its next seed waits, test 1 goes first.
        assert_eq!(d.next(), run(1, 0));
        assert_eq!(d.next(), Next::Wait);
        d.finished(Job { test: 1, seed: 0 });
        assert_eq!(d.next(), run(1, 1));
        d.finished(Job { test: 0, seed: 0 });
        assert_eq!(d.next(), run(0, 1));
        assert_eq!(d.next(), Next::Wait);
        d.finished(Job { test: 0, seed: 1 });
        d.finished(Job { test: 1, seed: 1 });
        assert_eq!(d.next(), run(0, 2));
        assert_eq!(d.next(), run(1, 2));
        assert_eq!(d.next(), Next::Done);
    }

    #[test]
    fn isolated_seeds_of_one_test_run_at_once() {
        let mut d = Dispatch::new(vec![None], vec![], &[0, 1, 2], true);
        assert_eq!(d.next(), run(0, 0));
        assert_eq!(d.next(), run(0, 1));
        assert_eq!(d.next(), run(0, 2));
        assert_eq!(d.next(), Next::Done);
    }

    #[test]
    fn a_test_group_holds_its_tests_to_its_limit_even_when_isolated() {
        let mut d = Dispatch::new(vec![Some(0), Some(0), None], vec![1], &[7], true);
        assert_eq!(d.next(), run(0, 7));
        // Test 1 shares test 0's group: test 2 goes first.
        assert_eq!(d.next(), run(2, 7));
        assert_eq!(d.next(), Next::Wait);
        d.finished(Job { test: 0, seed: 7 });
        assert_eq!(d.next(), run(1, 7));
        assert_eq!(d.next(), Next::Done);
    }

    #[test]
    fn a_stopped_run_starts_nothing_more() {
        let mut d = Dispatch::new(vec![None, None], vec![], &[0, 1], false);
        assert_eq!(d.next(), run(0, 0));
        d.clear();
        assert_eq!(d.next(), Next::Done);
        assert_eq!(
            Dispatch::new(vec![None], vec![], &[], false).next(),
            Next::Done
        );
    }
}
