//! `--partition hash:M/N` and `slice:M/N`, and `--list` with them.

use super::*;
use std::collections::BTreeSet;

fn listed(args: &[&str]) -> Vec<String> {
    let run = run_human(&[&["--list"], args].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.lines().map(String::from).collect()
}

#[test]
fn partitions_are_disjoint_and_together_list_every_test() {
    let all = listed(&["--workspace"]);
    assert!(all.len() > 200, "{all:?}");
    for kind in ["hash", "slice"] {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for m in 1..=3 {
            let share = listed(&["--workspace", "--partition", &format!("{kind}:{m}/3")]);
            sizes.push(share.len());
            for t in share {
                assert!(union.insert(t.clone()), "{kind}: {t} is in two shares");
            }
        }
        assert_eq!(
            union,
            all.iter().cloned().collect::<BTreeSet<_>>(),
            "{kind}"
        );
        assert!(sizes.iter().all(|&n| n > 0), "{kind}: {sizes:?}");
    }
    // A slice deals the listed tests round-robin, in --list order.
    let second = listed(&["--workspace", "--partition", "slice:2/3"]);
    let expected: Vec<String> = all.iter().skip(1).step_by(3).cloned().collect();
    assert_eq!(second, expected);
}

#[test]
fn partitions_apply_after_the_filters() {
    let args = ["-p", "clean", "-p", "ffi-bugs", "clean"];
    let all = listed(&args);
    assert!(
        all.len() > 3 && all.iter().all(|t| t.contains("clean")),
        "{all:?}"
    );
    let first = listed(&[&args[..], &["--partition", "slice:1/2"]].concat());
    let expected: Vec<String> = all.iter().step_by(2).cloned().collect();
    assert_eq!(first, expected);
}

#[test]
fn a_bad_partition_is_a_usage_error() {
    for (spec, says) in [
        ("hash:0/3", "numbered 1 to 3"),
        ("slice:4/3", "numbered 1 to 3"),
        ("modulo:1/2", "unknown partition kind `modulo`"),
        ("hash:1-2", "no `/`"),
    ] {
        let run = run_human(&["--partition", spec]);
        assert_eq!(run.code, 2, "{spec}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{spec}: {}", run.stderr);
        assert!(run.stderr.contains("--partition"), "{}", run.stderr);
    }
}
