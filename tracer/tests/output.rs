//! A command's output is kept whole up to a limit, and past it bounded:
//! its head and tail, with a note of what was dropped.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use tracer::{Command, Exit, Options};

fn shell(script: &str) -> Command {
    Command {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
    }
}

#[test]
fn endless_output_is_kept_bounded_with_its_head_and_tail() {
    let options = Options {
        guard: false,
        hang_grace: None,
        max_output: 64 << 10,
        ..Options::default()
    };
    let script = "echo first; yes middle | head -c 4000000; echo; echo last >&1; echo err >&2";
    let outcome = tracer::run(&shell(script), &options).unwrap();
    assert_eq!(outcome.exit, Exit::Code(0));
    let out = String::from_utf8_lossy(&outcome.stdout);
    assert!(out.starts_with("first\n"), "{}", &out[..64]);
    assert!(out.ends_with("last\n"), "{}", &out[out.len() - 64..]);
    assert!(out.contains("bytes of output dropped here"));
    assert!(
        outcome.stdout.len() < (64 << 10) + 200,
        "{}",
        outcome.stdout.len()
    );
    assert_eq!(outcome.stderr, b"err\n", "the other stream is whole");
}
