//! The environment of a test process: what the supervisor tells the
//! preloaded library, its guard allocator and its schedule (see
//! [`crate::preload::protocol::env`]), and why the library was not loaded
//! where it is missing.

use crate::linux::symbols::{maps, rust_alloc};
use crate::preload::protocol::{env, schedule};
use crate::{Command, GuardSide, Options, TraceError};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the preloaded library (the guard allocator and the schedule) was
/// installed (once per process).
pub fn library() -> Result<PathBuf, TraceError> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| crate::preload::install().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| TraceError::Os {
            what: "installing the preloaded library (guard allocator and schedule)",
            source: io::Error::other(e),
        })
}

/// `command` with the variables of the protocol set from `options` (and
/// whatever the user's environment held under those names dropped); with
/// `library`, the preloaded library first in `LD_PRELOAD`, before any of
/// the user's, its allocator off unless `options.guard`, and with
/// `schedule`, the path of the schedule's shared region.
pub fn environment(
    command: &Command,
    options: &Options,
    library: Option<&Path>,
    schedule: Option<&Path>,
) -> Command {
    let mut cmd = command.clone();
    cmd.env
        .retain(|(k, _)| !env::ALL.iter().any(|name| k == name));
    let mut set = |key: &str, value: OsString| {
        cmd.env.retain(|(k, _)| k != key);
        cmd.env.push((key.into(), value));
    };
    set(env::SEED, options.seed.to_string().into());
    let Some(library) = library else {
        return cmd;
    };
    let mut preload = OsString::from(library);
    if let Some((_, old)) = command.env.iter().find(|(k, _)| k == "LD_PRELOAD") {
        if !old.is_empty() {
            preload.push(":");
            preload.push(old);
        }
    }
    set("LD_PRELOAD", preload);
    set(env::SUPERVISED, "1".into());
    if options.harness_main_unguarded {
        set(env::HARNESS_MAIN, "1".into());
    }
    if !options.guard {
        set(env::GUARD, "off".into());
    } else if let Some(spec) = rust_alloc::spec(&command.program) {
        set(env::RUST_ALLOC, spec.into());
    }
    // How guard pages are made is a property of the machine (which kernel
    // calls work), not of the test: the supervisor's own environment
    // chooses it, for benchmarks and for kernels without guard regions.
    if let Some(protect) = std::env::var_os(env::PROTECT) {
        set(env::PROTECT, protect);
    }
    match options.guard_side {
        GuardSide::Seeded => {}
        GuardSide::After => set(env::GUARD_SIDE, "after".into()),
        GuardSide::Before => set(env::GUARD_SIDE, "before".into()),
    }
    if let Some(path) = schedule {
        set(schedule::ENV_PATH, path.into());
    }
    cmd
}

/// Why the guard allocator is not active in process `pid`, which is about
/// to exit (its memory and `/proc` entries still there), when it was to be
/// preloaded from `guard`.
pub fn why_not_loaded(pid: i32, guard: &Path) -> String {
    let maps = maps::read_maps(pid).unwrap_or_default();
    let mapped =
        |want: &dyn Fn(&str) -> bool| maps.iter().filter_map(|m| m.path.as_deref()).any(want);
    let guard_text = guard.to_string_lossy();
    if mapped(&|p| p == guard_text) {
        let limited = std::fs::read_to_string(format!("/proc/{pid}/limits"))
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max address space"))
                    .map(|l| !l.contains("unlimited"))
            })
            .unwrap_or(false);
        return if limited {
            "its address space is limited (ulimit -v) below the allocator's reservation".into()
        } else {
            "the allocator's fixed address range was taken".into()
        };
    }
    let interpreter = mapped(&|p| {
        Path::new(p)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ld-"))
    });
    if !interpreter {
        return "a statically linked program".into();
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let preloaded = environ.split(|&b| b == 0).any(|kv| {
        kv.starts_with(b"LD_PRELOAD=")
            && kv
                .windows(guard_text.len())
                .any(|w| w == guard_text.as_bytes())
    });
    if !preloaded {
        return "started without the allocator in LD_PRELOAD (a cleared or replaced environment)"
            .into();
    }
    "the dynamic loader did not load it (a noexec mount, an unreadable file, or a setuid program)"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(cmd: &'a Command, key: &str) -> Option<&'a OsString> {
        cmd.env.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn the_protocol_is_set_by_the_supervisor_never_inherited() {
        let user = Command {
            program: "/bin/true".into(),
            args: Vec::new(),
            env: vec![
                (env::SEED.into(), "99".into()),
                (env::GUARD_SIDE.into(), "before".into()),
                (env::HARNESS_MAIN.into(), "1".into()),
                ("HOME".into(), "/home/u".into()),
            ],
            cwd: "/".into(),
        };
        let options = Options {
            seed: 7,
            guard: false,
            ..Options::default()
        };
        let cmd = environment(&user, &options, None, None);
        assert_eq!(value(&cmd, env::SEED).unwrap(), "7");
        for name in [env::GUARD_SIDE, env::HARNESS_MAIN, env::SUPERVISED] {
            assert_eq!(value(&cmd, name), None, "{name} inherited");
        }
        assert_eq!(value(&cmd, "HOME").unwrap(), "/home/u");
    }
}
