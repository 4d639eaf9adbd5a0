//! `.config/ffi-check.toml` at the workspace root: profiles of run settings
//! and `[[suppress]]` entries (see [`crate::adopt::suppress`]).
//!
//! ```toml
//! [profile.default]
//! seeds = "0..4"
//! timeout = "30s"
//!
//! [profile.ci]
//! seeds = "0..16"
//! fail-fast = false
//! isolate = true
//!
//! [test-groups]
//! port-6797 = { max-threads = 1 }
//!
//! [[profile.default.overrides]]
//! filter = "test(=tests::bind_a) | test(=tests::bind_b)"
//! test-group = "port-6797"
//! ```
//!
//! A setting comes from, first to last: the command line, the profile chosen
//! with `--profile-config` / `-P` / `FFI_CHECK_PROFILE`, `[profile.default]`,
//! the built-in default. `FFI_CHECK_CONFIG=PATH` reads another file instead.
//! Unknown keys are warnings (a newer version's file still works); a value of
//! the wrong kind is an error naming the file, the table and the key.

use crate::adopt::suppress::Suppressions;
use crate::setup::cli::{Grace, GuardSideArg, Leaks};
use crate::setup::filter::Filter;
use crate::setup::groups::{Group, Override};
use crate::setup::seeds::Seeds;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's place under the workspace root.
pub const FILE: &str = ".config/ffi-check.toml";

/// Built-in defaults, as `--help` states them.
pub mod defaults {
    /// `--seeds`.
    pub const SEEDS: &str = "0";
    /// `--timeout`, `--hang-grace` and `--schedule-budget`: the
    /// supervisor's own.
    pub use tracer::defaults::{HANG_GRACE, SCHEDULE_BUDGET, TIMEOUT};
}

/// Settings of one profile; `None` where the profile does not set them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// `seeds`: `"0..16"`, `"1,5,9"` or an integer.
    pub seeds: Option<Seeds>,
    /// `timeout`: `"60s"`, `"2m"` or seconds.
    pub timeout: Option<Duration>,
    /// `jobs`: parallel tests.
    pub jobs: Option<usize>,
    /// `fail-fast`.
    pub fail_fast: Option<bool>,
    /// `guard`: preload the guard allocator.
    pub guard: Option<bool>,
    /// `guard-side`: `seeded`, `after` or `before`.
    pub guard_side: Option<GuardSideArg>,
    /// `schedule`: run under the seeded schedule.
    pub schedule: Option<bool>,
    /// `schedule-budget`: a percentage, `25` or `"25%"`.
    pub schedule_budget: Option<u32>,
    /// `hang-grace`: `"2s"`, seconds, or `"off"`.
    pub hang_grace: Option<Grace>,
    /// `leaks`: `"on"`, `"report"` or `"off"` (`true` and `false` are `on`
    /// and `off`).
    pub leaks: Option<Leaks>,
    /// `isolate`: seeds of one test run at once, each in namespaces of its
    /// own.
    pub isolate: Option<bool>,
    /// `[[profile.NAME.overrides]]` that put tests in test groups, in
    /// order; a named profile's come before `[profile.default]`'s.
    pub overrides: Vec<Override>,
}

impl Profile {
    /// `self`'s settings, with `base`'s where `self` has none.
    fn or(self, base: &Profile) -> Profile {
        Profile {
            seeds: self.seeds.or_else(|| base.seeds.clone()),
            timeout: self.timeout.or(base.timeout),
            jobs: self.jobs.or(base.jobs),
            fail_fast: self.fail_fast.or(base.fail_fast),
            guard: self.guard.or(base.guard),
            guard_side: self.guard_side.or(base.guard_side),
            schedule: self.schedule.or(base.schedule),
            schedule_budget: self.schedule_budget.or(base.schedule_budget),
            hang_grace: self.hang_grace.or(base.hang_grace),
            leaks: self.leaks.or(base.leaks),
            isolate: self.isolate.or(base.isolate),
            overrides: self
                .overrides
                .iter()
                .chain(&base.overrides)
                .cloned()
                .collect(),
        }
    }
}

/// The configuration file, read and checked.
#[derive(Debug, Default)]
pub struct Config {
    /// The file as shown in messages (relative to the workspace root when
    /// inside it); `None` when there is no file.
    pub shown: Option<String>,
    /// The profiles by name.
    profiles: BTreeMap<String, Profile>,
    /// Warnings about keys this version does not know.
    pub warnings: Vec<String>,
    /// The `[[suppress]]` entries.
    pub suppressions: Suppressions,
}

/// The file's tables as serde sees them; values are checked one by one.
#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    profile: BTreeMap<String, toml::Table>,
    #[serde(default)]
    suppress: Vec<toml::Table>,
    #[serde(default, rename = "test-groups")]
    test_groups: toml::Table,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

/// Which file to read: `$FFI_CHECK_CONFIG` (which must exist) or the
/// workspace's `.config/ffi-check.toml` (if it exists).
fn path(root: &Path) -> Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("FFI_CHECK_CONFIG").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "FFI_CHECK_CONFIG names {}, which is not a file",
                p.display()
            );
        }
        return Ok(Some(p));
    }
    let p = root.join(FILE);
    Ok(p.is_file().then_some(p))
}

/// Reads the workspace's configuration (none is fine).
pub fn load(root: &Path) -> Result<Config> {
    let Some(path) = path(root)? else {
        return Ok(Config::default());
    };
    let shown = path
        .strip_prefix(root)
        .unwrap_or(&path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    parse(&text, &shown)
}

/// Parses a configuration file's text; `shown` names it in messages.
pub fn parse(text: &str, shown: &str) -> Result<Config> {
    let raw: RawFile = toml::from_str(text).with_context(|| format!("invalid {shown}"))?;
    let mut warnings: Vec<String> = raw
        .other
        .keys()
        .map(|k| format!("unknown key `{k}` in {shown}"))
        .collect();
    let groups = parse_test_groups(&raw.test_groups, shown, &mut warnings)?;
    let mut profiles = BTreeMap::new();
    for (name, table) in &raw.profile {
        let at = format!("{shown} [profile.{name}]");
        let profile = parse_profile(table, &at, &groups, &mut warnings)?;
        profiles.insert(name.clone(), profile);
    }
    let suppressions = Suppressions::parse(&raw.suppress, shown, &mut warnings)?;
    Ok(Config {
        shown: Some(shown.to_string()),
        profiles,
        warnings,
        suppressions,
    })
}

/// `[test-groups]`: each group's `max-threads`.
fn parse_test_groups(
    table: &toml::Table,
    shown: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, usize>> {
    let mut groups = BTreeMap::new();
    for (name, value) in table {
        let at = format!("{shown} [test-groups.{name}]");
        let max = value
            .as_table()
            .and_then(|t| {
                for key in t.keys().filter(|k| *k != "max-threads") {
                    warnings.push(format!("unknown key `{key}` in {at}"));
                }
                t.get("max-threads")
            })
            .and_then(toml::Value::as_integer)
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                anyhow::anyhow!("invalid {at}: expected {{ max-threads = N }} with N at least 1")
            })?;
        groups.insert(name.clone(), max as usize);
    }
    Ok(groups)
}

/// `[[profile.NAME.overrides]]`: each entry's `filter` and `test-group`.
fn parse_overrides(
    value: &toml::Value,
    at: &str,
    groups: &BTreeMap<String, usize>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Override>> {
    let entries = value.as_array().ok_or_else(|| {
        anyhow::anyhow!("invalid `overrides` in {at}: expected [[...overrides]] tables")
    })?;
    let mut overrides = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{at} overrides[{i}]");
        let table = entry
            .as_table()
            .ok_or_else(|| anyhow::anyhow!("invalid {at}: expected a table"))?;
        for key in table
            .keys()
            .filter(|k| !["filter", "test-group"].contains(&k.as_str()))
        {
            // nextest's other override settings (retries, slow-timeout,
            // ...) do not apply here.
            warnings.push(format!("unknown key `{key}` in {at}"));
        }
        let text = table
            .get("filter")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("invalid {at}: expected filter = \"test(...)\""))?;
        let filter =
            Filter::parse(text).map_err(|e| anyhow::anyhow!("invalid `filter` in {at}: {e:#}"))?;
        let Some(name) = table.get("test-group").and_then(toml::Value::as_str) else {
            continue;
        };
        let Some(&max) = groups.get(name) else {
            bail!("invalid `test-group` in {at}: `{name}` is not defined in [test-groups]");
        };
        overrides.push(Override {
            text: text.to_string(),
            filter,
            group: Group {
                name: name.to_string(),
                max,
            },
        });
    }
    Ok(overrides)
}

fn parse_profile(
    table: &toml::Table,
    at: &str,
    groups: &BTreeMap<String, usize>,
    warnings: &mut Vec<String>,
) -> Result<Profile> {
    let mut p = Profile::default();
    for (key, value) in table {
        let invalid = |why: &str| anyhow::anyhow!("invalid value for `{key}` in {at}: {why}");
        let boolean = || {
            value
                .as_bool()
                .ok_or_else(|| invalid("expected true or false"))
        };
        match key.as_str() {
            "seeds" => {
                let spec = scalar_text(value, false)
                    .ok_or_else(|| invalid("expected a string such as \"0..16\" or an integer"))?;
                p.seeds = Some(Seeds::parse(&spec).map_err(|e| invalid(&e))?);
            }
            "timeout" => {
                let spec = scalar_text(value, true).ok_or_else(|| {
                    invalid("expected a duration such as \"60s\" or a number of seconds")
                })?;
                p.timeout = Some(crate::setup::duration::parse(&spec).map_err(|e| invalid(&e))?);
            }
            "jobs" => match value.as_integer() {
                Some(n) if n >= 1 => p.jobs = Some(n as usize),
                _ => return Err(invalid("expected a positive integer")),
            },
            "fail-fast" => p.fail_fast = Some(boolean()?),
            "guard" => p.guard = Some(boolean()?),
            "leaks" => {
                let leaks = match value {
                    toml::Value::Boolean(true) => Some(Leaks::On),
                    toml::Value::Boolean(false) => Some(Leaks::Off),
                    toml::Value::String(s) => Leaks::from_str(s, false).ok(),
                    _ => None,
                };
                p.leaks =
                    Some(leaks.ok_or_else(|| invalid("expected \"on\", \"report\" or \"off\""))?);
            }
            "guard-side" => {
                let side = value
                    .as_str()
                    .and_then(|s| GuardSideArg::from_str(s, false).ok())
                    .ok_or_else(|| invalid("expected \"seeded\", \"after\" or \"before\""))?;
                p.guard_side = Some(side);
            }
            "schedule" => p.schedule = Some(boolean()?),
            "isolate" => p.isolate = Some(boolean()?),
            "overrides" => p.overrides = parse_overrides(value, at, groups, warnings)?,
            "schedule-budget" => {
                let spec = scalar_text(value, false)
                    .ok_or_else(|| invalid("expected a percentage such as 25 or \"25%\""))?;
                p.schedule_budget =
                    Some(crate::setup::cli::parse_budget(&spec).map_err(|e| invalid(&e))?);
            }
            "hang-grace" => {
                let spec = scalar_text(value, true).ok_or_else(|| {
                    invalid("expected a duration such as \"2s\", a number of seconds or \"off\"")
                })?;
                p.hang_grace =
                    Some(crate::setup::cli::parse_grace(&spec).map_err(|e| invalid(&e))?);
            }
            _ => warnings.push(format!("unknown key `{key}` in {at}")),
        }
    }
    Ok(p)
}

/// A string or integer value (and a float when `float`) as the text the
/// matching command-line option would take; `None` for other kinds.
fn scalar_text(value: &toml::Value, float: bool) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) if float => Some(x.to_string()),
        _ => None,
    }
}

impl Config {
    /// `[profile.default]` merged under the named profile (`None` or
    /// `"default"`: the default profile alone). A named profile that the
    /// file does not define is an error.
    pub fn profile(&self, name: Option<&str>) -> Result<Profile> {
        let default = self.profiles.get("default").cloned().unwrap_or_default();
        let Some(name) = name.filter(|n| *n != "default") else {
            return Ok(default);
        };
        match (self.profiles.get(name), &self.shown) {
            (Some(p), _) => Ok(p.clone().or(&default)),
            (None, Some(shown)) => {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                bail!(
                    "profile `{name}` is not defined in {shown} (it defines: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }
            (None, None) => {
                bail!("profile `{name}` needs {FILE} in the workspace root, which does not exist")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_TEXT: &str = r#"
        [profile.default]
        seeds = "0..3"
        timeout = "5s"
        jobs = 2
        colour = "red"

        [profile.ci]
        seeds = 7
        fail-fast = true
        guard = false
        guard-side = "before"
        schedule = false
        hang-grace = "off"
        leaks = false

        [profile.thorough]
        schedule-budget = "100%"

        [profile.adopting]
        leaks = "report"
    "#;

    #[test]
    fn a_named_profile_falls_back_on_the_default_one() {
        let c = parse(FILE_TEXT, ".config/ffi-check.toml").unwrap();
        assert_eq!(
            c.warnings,
            ["unknown key `colour` in .config/ffi-check.toml [profile.default]"]
        );
        let ci = c.profile(Some("ci")).unwrap();
        assert_eq!(ci.seeds.unwrap().as_slice(), [7]);
        assert_eq!(ci.timeout, Some(Duration::from_secs(5)));
        assert_eq!(ci.jobs, Some(2));
        assert_eq!(ci.fail_fast, Some(true));
        assert_eq!(ci.guard, Some(false));
        assert_eq!(ci.guard_side, Some(GuardSideArg::Before));
        assert_eq!(ci.schedule, Some(false));
        assert_eq!(ci.hang_grace, Some(Grace(None)));
        assert_eq!(ci.schedule_budget, None);
        assert_eq!(ci.leaks, Some(Leaks::Off));
        let thorough = c.profile(Some("thorough")).unwrap();
        assert_eq!(thorough.schedule_budget, Some(100));
        assert_eq!(thorough.leaks, None);
        let adopting = c.profile(Some("adopting")).unwrap();
        assert_eq!(adopting.leaks, Some(Leaks::Report));
        let default = c.profile(None).unwrap();
        assert_eq!(default.seeds.unwrap().as_slice(), [0, 1, 2]);
        assert_eq!(default.guard, None);
        assert_eq!(c.profile(Some("default")).unwrap().jobs, Some(2));
        let err = c.profile(Some("nightly")).unwrap_err().to_string();
        assert!(err.contains("profile `nightly` is not defined"), "{err}");
        assert!(err.contains("adopting, ci, default, thorough"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_file_the_table_and_the_key() {
        for (text, says) in [
            (
                "[profile.default]\nseeds = \"9..3\"",
                "`seeds` in f.toml [profile.default]: seed range `9..3` is empty",
            ),
            (
                "[profile.x]\ntimeout = true",
                "`timeout` in f.toml [profile.x]: expected a duration",
            ),
            (
                "[profile.x]\njobs = 0",
                "`jobs` in f.toml [profile.x]: expected a positive integer",
            ),
            (
                "[profile.x]\nguard = \"yes\"",
                "`guard` in f.toml [profile.x]: expected true or false",
            ),
            (
                "[profile.x]\nguard-side = \"left\"",
                "`guard-side` in f.toml [profile.x]",
            ),
            (
                "[profile.x]\nfail-fast = 1",
                "`fail-fast` in f.toml [profile.x]",
            ),
            (
                "[profile.x]\nschedule = \"on\"",
                "`schedule` in f.toml [profile.x]: expected true or false",
            ),
            (
                "[profile.x]\nschedule-budget = -5",
                "`schedule-budget` in f.toml [profile.x]: `-5` is not a whole percentage",
            ),
            (
                "[profile.x]\nleaks = \"sometimes\"",
                "`leaks` in f.toml [profile.x]: expected \"on\", \"report\" or \"off\"",
            ),
            (
                "[profile.x]\nhang-grace = \"soon\"",
                "`hang-grace` in f.toml [profile.x]",
            ),
        ] {
            let err = parse(text, "f.toml").unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = format!("{:#}", parse("[profile", "f.toml").unwrap_err());
        assert!(err.starts_with("invalid f.toml"), "{err}");
    }

    #[test]
    fn test_groups_and_overrides_resolve_named_profile_first() {
        let text = r#"
            [test-groups]
            port = { max-threads = 1 }
            db = { max-threads = 2, colour = "red" }

            [[profile.default.overrides]]
            filter = "test(=a)"
            test-group = "port"

            [[profile.ci.overrides]]
            filter = "package(db*)"
            test-group = "db"
            retries = 3
        "#;
        let c = parse(text, "f.toml").unwrap();
        assert_eq!(
            c.warnings,
            [
                "unknown key `colour` in f.toml [test-groups.db]",
                "unknown key `retries` in f.toml [profile.ci] overrides[0]",
            ]
        );
        let ci = c.profile(Some("ci")).unwrap();
        let groups: Vec<(&str, usize)> = ci
            .overrides
            .iter()
            .map(|o| (o.group.name.as_str(), o.group.max))
            .collect();
        assert_eq!(groups, [("db", 2), ("port", 1)]);
        assert_eq!(c.profile(None).unwrap().overrides.len(), 1);
        for (text, says) in [
            (
                "[test-groups]\nport = { max-threads = 0 }",
                "invalid f.toml [test-groups.port]: expected { max-threads = N } with N at least 1",
            ),
            (
                "[[profile.x.overrides]]\nfilter = \"kind(lib)\"",
                "invalid `filter` in f.toml [profile.x] overrides[0]: `kind()` is not supported",
            ),
            (
                "[[profile.x.overrides]]\nfilter = \"all()\"\ntest-group = \"none\"",
                "`none` is not defined in [test-groups]",
            ),
        ] {
            let err = parse(text, "f.toml").unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_tables_are_warnings() {
        let c = parse("[telemetry]\nx = 1\n", "f.toml").unwrap();
        assert_eq!(c.warnings, ["unknown key `telemetry` in f.toml"]);
    }
}
