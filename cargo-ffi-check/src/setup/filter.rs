//! Which tests a profile override applies to: a subset of nextest's
//! filtersets, so that a `filter` written for nextest's
//! `[[profile.NAME.overrides]]` works here as it is.
//!
//! A filter is one or more terms joined by `|`, `+` or `or`; a term is
//! `all()`, `test(M)`, `binary_id(M)` or `package(M)`. A matcher `M` is
//! `=text` (equal), `~text` (contains), `/regex/` or `#glob`; without a
//! prefix, `test()` means contains and the others glob, as in nextest.

use anyhow::{bail, Result};
use globset::{Glob, GlobMatcher};
use regex::Regex;

/// How a name is matched.
#[derive(Debug, Clone)]
enum Matcher {
    Equal(String),
    Contains(String),
    Regex(Regex),
    Glob(GlobMatcher),
}

impl Matcher {
    fn parse(text: &str, default_glob: bool) -> Result<Matcher> {
        if let Some(exact) = text.strip_prefix('=') {
            return Ok(Matcher::Equal(exact.to_string()));
        }
        if let Some(part) = text.strip_prefix('~') {
            return Ok(Matcher::Contains(part.to_string()));
        }
        if let Some(re) = text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
            return Ok(Matcher::Regex(Regex::new(re)?));
        }
        if let Some(glob) = text.strip_prefix('#') {
            return Ok(Matcher::Glob(Glob::new(glob)?.compile_matcher()));
        }
        Ok(if default_glob {
            Matcher::Glob(Glob::new(text)?.compile_matcher())
        } else {
            Matcher::Contains(text.to_string())
        })
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::Equal(s) => name == s,
            Matcher::Contains(s) => name.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(name),
            Matcher::Glob(g) => g.is_match(name),
        }
    }
}

/// One term of a filter.
#[derive(Debug, Clone)]
enum Term {
    All,
    Test(Matcher),
    BinaryId(Matcher),
    Package(Matcher),
}

/// A parsed filter: it matches a test if any of its terms does.
#[derive(Debug, Clone)]
pub struct Filter {
    terms: Vec<Term>,
}

impl Filter {
    /// Parses `text`; the error says which term is wrong and what is known.
    pub fn parse(text: &str) -> Result<Filter> {
        let mut terms = Vec::new();
        for part in text
            .split(['|', '+'])
            .flat_map(|p| p.split(" or "))
            .map(str::trim)
        {
            let Some((function, rest)) = part.split_once('(') else {
                bail!("`{part}` is not a filter term (such as test(=NAME) or binary_id(PKG::BIN))");
            };
            let Some(argument) = rest.strip_suffix(')') else {
                bail!("`{part}` lacks its closing parenthesis");
            };
            let argument = argument.trim();
            terms.push(match function.trim() {
                "all" if argument.is_empty() => Term::All,
                "test" => Term::Test(Matcher::parse(argument, false)?),
                "binary_id" => Term::BinaryId(Matcher::parse(argument, true)?),
                "package" => Term::Package(Matcher::parse(argument, true)?),
                other => bail!(
                    "`{other}()` is not supported here (the filters known are all(), test(), \
                     binary_id() and package(), joined by `|`)"
                ),
            });
        }
        Ok(Filter { terms })
    }

    /// Whether the test `name` of the binary `binary_id` (nextest-style:
    /// `package`, `package::integration`) matches.
    pub fn matches(&self, binary_id: &str, name: &str) -> bool {
        let package = binary_id.split("::").next().unwrap_or(binary_id);
        self.terms.iter().any(|term| match term {
            Term::All => true,
            Term::Test(m) => m.is_match(name),
            Term::BinaryId(m) => m.is_match(binary_id),
            Term::Package(m) => m.is_match(package),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_as_in_nextest() {
        let f = Filter::parse("test(=sys::test_socket::test_timestamping) | test(/recvmm.?2$/)")
            .unwrap();
        assert!(f.matches("nix::test", "sys::test_socket::test_timestamping"));
        assert!(f.matches("nix::test", "sys::test_socket::test_recvmm2"));
        assert!(!f.matches("nix::test", "sys::test_socket::test_timestamping_more"));
        let f = Filter::parse("test(socket) or binary_id(nix::*) + package(=other)").unwrap();
        assert!(f.matches("a::b", "x::socket::y"));
        assert!(f.matches("nix::integration", "anything"));
        assert!(f.matches("other", "anything"));
        assert!(!f.matches("nixie", "anything"));
        assert!(Filter::parse("all()").unwrap().matches("a", "b"));
        assert!(Filter::parse("test(#*::port_?)")
            .unwrap()
            .matches("a", "m::port_a"));
    }

    #[test]
    fn a_bad_filter_says_what_is_wrong() {
        for (text, says) in [
            ("kind(lib)", "`kind()` is not supported"),
            ("test(a", "lacks its closing parenthesis"),
            ("socket", "is not a filter term"),
            ("test(/(/)", "regex"),
        ] {
            let err = format!("{:#}", Filter::parse(text).unwrap_err());
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
