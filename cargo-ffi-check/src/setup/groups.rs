//! Test groups, as nextest has them: tests that share a resource (a port,
//! a path, a database) are put in a group that lets at most `max-threads`
//! of its jobs run at once.
//!
//! ```toml
//! [test-groups]
//! port-6797 = { max-threads = 1 }
//!
//! [[profile.default.overrides]]
//! filter = "test(=sys::test_socket::test_timestamping) | test(=sys::test_socket::test_recvmm2)"
//! test-group = "port-6797"
//! ```
//!
//! A test takes the group of the first override whose filter matches it
//! (the chosen profile's overrides first, then `[profile.default]`'s).

use crate::build::list::TestCase;
use crate::setup::filter::Filter;

/// A test group: tests that share a resource, at most `max` running at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its name in the configuration.
    pub name: String,
    /// How many of its jobs may run at once (`max-threads`).
    pub max: usize,
}

/// One `[[profile.NAME.overrides]]` entry that puts tests in a group.
#[derive(Debug, Clone)]
pub struct Override {
    /// Its `filter`, as written.
    pub text: String,
    /// Which tests.
    pub filter: Filter,
    /// Its `test-group`, with the group's limit from `[test-groups]`.
    pub group: Group,
}

impl PartialEq for Override {
    fn eq(&self, other: &Override) -> bool {
        self.text == other.text && self.group == other.group
    }
}

/// The run's test groups and which tests are in them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestGroups {
    groups: Vec<Group>,
    /// Overrides in order, each with the index of its group.
    rules: Vec<(Override, usize)>,
}

impl TestGroups {
    /// The groups the `overrides` (in order of precedence) name.
    pub fn new(overrides: &[Override]) -> TestGroups {
        let mut groups: Vec<Group> = Vec::new();
        let rules = overrides
            .iter()
            .map(|o| {
                let at = match groups.iter().position(|g| g.name == o.group.name) {
                    Some(at) => at,
                    None => {
                        groups.push(o.group.clone());
                        groups.len() - 1
                    }
                };
                (o.clone(), at)
            })
            .collect();
        TestGroups { groups, rules }
    }

    /// Each group's most jobs at once, at the indices
    /// [`TestGroups::group_of`] gives.
    pub fn limits(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.max).collect()
    }

    /// The group of `test`, if an override puts it in one.
    pub fn group_of(&self, test: &TestCase) -> Option<usize> {
        self.rules
            .iter()
            .find(|(o, _)| o.filter.matches(&test.binary.id, &test.name))
            .map(|(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(filter: &str, group: &str, max: usize) -> Override {
        Override {
            text: filter.to_string(),
            filter: Filter::parse(filter).unwrap(),
            group: Group {
                name: group.to_string(),
                max,
            },
        }
    }

    #[test]
    fn the_first_matching_override_gives_a_test_its_group() {
        let groups = TestGroups::new(&[
            rule("test(=a::port_one)", "port", 1),
            rule("test(port)", "ports", 2),
            rule("test(=a::port_two)", "port", 1),
        ]);
        let group = |name: &str| groups.group_of(&TestCase::for_tests("pkg", name, false));
        assert_eq!(groups.limits(), [1, 2]);
        assert_eq!(group("a::port_one"), Some(0));
        // `port` matches first, though a later rule names this test.
        assert_eq!(group("a::port_two"), Some(1));
        assert_eq!(group("a::other"), None);
    }
}
