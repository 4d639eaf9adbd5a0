//! Exit codes and errors for bad input, as a user meets them.

use crate::support::*;
use std::path::Path;
use std::process::Command;

#[test]
fn list_prints_binary_id_and_test_name() {
    let run = run_human(&["-p", "ffi-bugs", "--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.contains(&"ffi-bugs tests::null_write_through_out_pointer"),
        "{lines:?}"
    );
    assert!(lines.contains(&"ffi-bugs tests::clean_c_call"), "{lines:?}");
    let ignored = run_human(&["-p", "misc-behaviour", "--list", "--", "--ignored"]);
    let mut ignored: Vec<&str> = ignored.stdout.lines().collect();
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "misc-behaviour tests::deadlocks",
            "misc-behaviour tests::floods_output",
            "misc-behaviour tests::never_ends"
        ]
    );
}

#[test]
fn no_matching_test_exits_4() {
    let run = run_human(&["-p", "clean", "no_such_test_anywhere"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("no tests to run"), "{}", run.stderr);
}

#[test]
fn a_bad_seed_range_is_a_usage_error() {
    let run = run_human(&["--seeds", "16..0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("seed range `16..0` is empty"),
        "{}",
        run.stderr
    );
    let run = run_human(&["--seeds", "x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a seed"), "{}", run.stderr);
}

/// A one-file crate in a scratch directory.
fn scratch_crate(name: &str, manifest: &str, lib: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    dir
}

fn run_on(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_compile_error_exits_101_with_rustcs_message() {
    let dir = scratch_crate(
        "broken-code",
        "[package]\nname = \"broken-code\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        "pub fn f() -> u32 { \"not a number\" }\n",
    );
    let (code, stderr) = run_on(&dir);
    assert_eq!(code, 101, "{stderr}");
    assert!(stderr.contains("mismatched types"), "{stderr}");
    assert!(stderr.contains("could not compile"), "{stderr}");
}

#[test]
fn a_broken_manifest_exits_101_with_cargos_message() {
    let dir = scratch_crate("broken-manifest", "[package\nname = \n", "");
    let (code, stderr) = run_on(&dir);
    assert_eq!(code, 101, "{stderr}");
    assert!(stderr.contains("Cargo.toml"), "{stderr}");
}

#[test]
fn help_names_the_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .args(["ffi-check", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: cargo ffi-check"), "{help}");
    assert!(help.contains("--seeds"), "{help}");
}

/// Makes `ptrace` fail with EPERM in the command, as in a container whose
/// seccomp profile forbids it.
fn deny_ptrace(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = seccomp_data.nr
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let filter = [
        libc::sock_filter {
            code: LD_NR,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: JEQ,
            jt: 0,
            jf: 1,
            k: libc::SYS_ptrace as u32,
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: 0x0005_0000 | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        },
    ];
    // SAFETY: the closure runs in the forked child before exec and only
    // makes two prctl calls on data owned by the closure.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut _,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const libc::sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn ptrace_not_permitted_is_a_setup_error_that_says_how_to_allow_it() {
    let mut cmd = ffi_check();
    cmd.args(["-p", "clean"]);
    deny_ptrace(&mut cmd);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(96), "{stderr}");
    assert!(stderr.contains("ptrace is not permitted here"), "{stderr}");
    assert!(stderr.contains("--cap-add=SYS_PTRACE"), "{stderr}");
}

/// libtest's own flags after `--`, and its environment variables, never
/// collide with the flags each job runs with (`--nocapture
/// --test-threads=1`) or break how the tool reads libtest's output.
#[test]
fn libtest_flags_and_variables_never_break_a_test() {
    let tests = ["tests::prints_output", "tests::threads_and_channels"];
    for extra in [
        &["--nocapture"][..],
        &["--test-threads=4", "--show-output"],
        &["--test-threads", "2", "--color", "always", "-q"],
        &["--format", "terse"],
        &["--format=json", "-Z", "unstable-options"],
        &["-Zunstable-options", "--format", "pretty", "--report-time"],
    ] {
        let mut args = vec!["-p", "misc-behaviour", "--exact"];
        args.extend(tests);
        args.push("--");
        args.extend(extra);
        let out = ffi_check()
            .args(["--message-format", "json"])
            .args(&args)
            .env("RUST_TEST_THREADS", "3")
            .env("RUST_TEST_NOCAPTURE", "1")
            .output()
            .unwrap();
        let run = parse_output(out);
        assert_eq!(run.code, 0, "-- {extra:?}: {}", run.stderr);
        for t in tests {
            assert_eq!(run.one(t)["status"], "passed", "-- {extra:?}");
        }
    }
}
