//! Starting the command as a seized tracee.
//!
//! The child is started by hand (not with `std::process::Command`) because
//! the supervisor must attach with `PTRACE_SEIZE` *between* its start and
//! its exec: the child blocks on a pipe until the parent has seized it, then
//! execs, so not one instruction of the test runs untraced.
//!
//! It is not forked: it shares the supervisor's memory until it execs
//! (`clone` with `CLONE_VM`, as `posix_spawn` does), on a stack of its own.
//! A fork copied the page tables of the whole supervisor (tens of MiB of
//! symbol data and buffers) for every test, to throw them away at the exec
//! a moment later, and made the supervisor's next write to each page a
//! copy-on-write fault: 4.5 % of all the CPU time of a run of git2's suite
//! went to `fork` alone. So the child writes nothing of the shared memory:
//! it makes raw system calls ([`raw`]: no `errno`) on data prepared before
//! the clone, and on its own stack.

use crate::linux::process::isolate::{self, Isolation};
use crate::linux::process::seccomp::Filter;
use crate::linux::process::{proc, ptrace, raw};
use crate::{Command, TraceError};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// A started tracee and the read ends of its output pipes.
pub struct Spawned {
    /// Process id of the test process (also its process group id).
    pub pid: i32,
    /// Everything the process tree writes to standard output.
    pub stdout: File,
    /// Everything the process tree writes to standard error.
    pub stderr: File,
}

fn cstring(s: &OsStr, what: &'static str) -> Result<CString, TraceError> {
    CString::new(s.as_bytes()).map_err(|_| TraceError::Os {
        what,
        source: io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), TraceError> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(TraceError::Os {
            what: "creating a pipe",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Everything the child needs, prepared before fork so the child allocates nothing.
struct Prepared {
    program: CString,
    cwd: CString,
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The seccomp filter of the calls the supervisor sees.
    filter: Filter,
}

fn prepare(cmd: &Command) -> Result<Prepared, TraceError> {
    let program = cstring(cmd.program.as_os_str(), "program path")?;
    let cwd = cstring(cmd.cwd.as_os_str(), "working directory")?;
    let mut strings = vec![program.clone()];
    for a in &cmd.args {
        strings.push(cstring(a, "argument")?);
    }
    let argc = strings.len();
    for (k, v) in &cmd.env {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        strings.push(cstring(OsStr::from_bytes(&kv), "environment variable")?);
    }
    let mut argv: Vec<_> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<_> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
    envp.push(std::ptr::null());
    Ok(Prepared {
        program,
        cwd,
        _strings: strings,
        argv,
        envp,
        filter: Filter::new(),
    })
}

/// What failed in the child before exec, sent back over the error pipe.
const STAGE_CHDIR: u8 = 1;
const STAGE_EXEC: u8 = 2;
const STAGE_SECCOMP: u8 = 3;

/// Bytes of the child's own stack (it makes a few system calls).
const CHILD_STACK: usize = 64 << 10;

/// What the child runs with, on the parent's stack, read-only.
struct ChildArgs<'a> {
    prepared: &'a Prepared,
    isolation: Option<&'a Isolation>,
    devnull: i32,
    out: i32,
    err: i32,
    sync: i32,
    report: i32,
}

/// The kernel's `struct sigaction` (x86-64) for `rt_sigaction`.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// The child side: runs between clone and exec, in the supervisor's memory.
/// Never returns.
///
/// # Safety
/// Must only be called as the entry of the child that [`spawn`] clones, with
/// `arg` pointing at a [`ChildArgs`] that outlives it.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn` passes a ChildArgs that lives until the child has
    // execed or died. Everything below is a raw system call (no errno, no
    // lock, no allocation) on memory prepared before the clone or on this
    // stack; the child ends in execve or exit_group.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        let p = a.prepared;
        let sys = |nr: libc::c_long, args: [usize; 6]| raw::syscall(nr, args);
        let fail = |stage: u8, ret: isize| -> ! {
            let mut msg = [0u8; 5];
            msg[0] = stage;
            msg[1..].copy_from_slice(&raw::errno_of(ret).to_le_bytes());
            sys(
                libc::SYS_write,
                [a.report as usize, msg.as_ptr() as usize, msg.len(), 0, 0, 0],
            );
            sys(libc::SYS_exit_group, [127, 0, 0, 0, 0, 0]);
            unreachable!("exit_group returned")
        };
        // Own process group, so a timeout can kill the whole tree at once and a
        // Ctrl-C on the terminal reaches only the supervisor.
        sys(libc::SYS_setpgid, [0; 6]);
        for (from, to) in [(a.devnull, 0), (a.out, 1), (a.err, 2)] {
            sys(libc::SYS_dup2, [from as usize, to, 0, 0, 0, 0]);
        }
        // Undo what the supervisor's runtime set up: Rust ignores SIGPIPE, and an
        // ignored disposition would survive exec. And the supervisor's own
        // handlers (Ctrl-C), which would run here on its memory: a signal that
        // reaches the child before exec acts as on the test. (The parent
        // blocked every signal around the clone; the child unblocks them
        // only now.)
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for signal in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let act = &default as *const KernelSigaction as usize;
            sys(libc::SYS_rt_sigaction, [signal as usize, act, 0, 8, 0, 0]);
        }
        let none = 0u64;
        let set = &none as *const u64 as usize;
        sys(
            libc::SYS_rt_sigprocmask,
            [libc::SIG_SETMASK as usize, set, 0, 8, 0, 0],
        );
        if let Some(isolation) = a.isolation {
            if let Err((stage, r)) = isolation.enter() {
                fail(stage, r);
            }
        }
        let r = sys(libc::SYS_chdir, [p.cwd.as_ptr() as usize, 0, 0, 0, 0, 0]);
        if r != 0 {
            fail(STAGE_CHDIR, r);
        }
        // Wait until the parent has seized us (or died: then read returns 0).
        let byte = 0u8;
        loop {
            let at = &byte as *const u8 as usize;
            let n = sys(libc::SYS_read, [a.sync as usize, at, 1, 0, 0, 0]);
            if n == 1 {
                break;
            }
            if n == 0 || raw::errno_of(n) != libc::EINTR {
                sys(libc::SYS_exit_group, [127, 0, 0, 0, 0, 0]);
            }
        }
        if let Err(e) = p.filter.install() {
            fail(
                STAGE_SECCOMP,
                -(e.raw_os_error().unwrap_or(libc::EINVAL) as isize),
            );
        }
        let r = sys(
            libc::SYS_execve,
            [
                p.program.as_ptr() as usize,
                p.argv.as_ptr() as usize,
                p.envp.as_ptr() as usize,
                0,
                0,
                0,
            ],
        );
        fail(STAGE_EXEC, r)
    }
}

/// Starts [`child`] with `args`, sharing this process's memory, with every
/// signal blocked in this thread meanwhile (the child unblocks them once
/// its handlers are reset). Returns its pid.
fn clone_child(args: &ChildArgs, stack: &mut [u8]) -> Result<i32, TraceError> {
    // The stack grows down from its end, 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // SAFETY: sigset_t is plain data, for which zero bytes are valid (an
    // empty set before pthread_sigmask fills it).
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigset_t values on this stack, filled by sigfillset; the
    // mask is restored right after the clone.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `child` only makes raw system calls on `args` (alive until
    // the child has execed or died: `spawn` keeps it until then) and on the
    // stack it is given, which nothing else uses and which also outlives
    // it; CLONE_VM without CLONE_VFORK: this thread goes on, to seize it.
    let pid = unsafe {
        libc::clone(
            child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            args as *const ChildArgs as *mut libc::c_void,
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: restores this thread's mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid == -1 {
        return Err(TraceError::Os {
            what: "starting the test process (clone)",
            source: error,
        });
    }
    Ok(pid)
}

/// `fork()`: the child's pid in the parent, 0 in the child.
///
/// # Safety
/// The child of a multi-threaded process may only make async-signal-safe
/// calls until it execs or exits.
unsafe fn fork() -> Result<i32, TraceError> {
    // SAFETY: the caller upholds the child's restrictions.
    match unsafe { libc::fork() } {
        -1 => Err(TraceError::Os {
            what: "fork",
            source: io::Error::last_os_error(),
        }),
        pid => Ok(pid),
    }
}

/// Starts, seizes and execs `cmd`. On return the tracee is running (or about
/// to report its `PTRACE_EVENT_EXEC` stop) and `exec` has succeeded, with
/// the supervisor's seccomp filter installed first. With `isolation`, the
/// child enters namespaces of its own first ([`isolate`]).
pub fn spawn(cmd: &Command, isolation: Option<&Isolation>) -> Result<Spawned, TraceError> {
    let prepared = prepare(cmd)?;
    let devnull = File::open("/dev/null").map_err(|source| TraceError::Os {
        what: "opening /dev/null",
        source,
    })?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (sync_r, sync_w) = pipe()?;
    let (report_r, report_w) = pipe()?;

    let args = ChildArgs {
        prepared: &prepared,
        isolation,
        devnull: devnull.as_raw_fd(),
        out: out_w.as_raw_fd(),
        err: err_w.as_raw_fd(),
        sync: sync_r.as_raw_fd(),
        report: report_w.as_raw_fd(),
    };
    // The child's stack, and `args` and `prepared`, outlive it: every path
    // below waits until it has execed (the report pipe's EOF) or is reaped.
    let mut stack = vec![0u8; CHILD_STACK];
    let pid = clone_child(&args, &mut stack)?;
    drop((out_w, err_w, sync_r, report_w, devnull));
    // The child's own group too, set from here as well as there so that a
    // group's signal (a Ctrl-C) cannot reach it whichever runs first.
    // SAFETY: setpgid has no memory effects; pid is our child.
    unsafe { libc::setpgid(pid, pid) };

    if let Err(e) = ptrace::seize(pid) {
        // Killed from outside between fork and seizure: the kernel answers
        // ESRCH, or EPERM once the child is a zombie, as if ptrace were
        // not permitted.
        let ended = e.raw_os_error() == Some(libc::ESRCH) || proc::ending(pid);
        kill_and_reap(pid);
        if !ended {
            return Err(not_permitted(e));
        }
        // A child that failed before the seizure (its chdir) reported why
        // before it exited; reaped, it holds the pipe open no more.
        let mut msg = Vec::new();
        let _ = File::from(report_r).read_to_end(&mut msg);
        return Err(stage_error(cmd, &msg).unwrap_or_else(|| TraceError::Spawn {
            program: cmd.program.clone(),
            source: io::Error::other("the process ended before it could be traced"),
        }));
    }
    // Release the child; it execs now.
    let mut sync = File::from(sync_w);
    let released = std::io::Write::write_all(&mut sync, &[1]);
    drop(sync);
    if let Err(source) = released {
        kill_and_reap(pid);
        return Err(TraceError::Os {
            what: "releasing the child",
            source,
        });
    }
    // EOF means exec succeeded (the pipe is close-on-exec); otherwise the
    // child tells us which step failed and why.
    let msg = match read_report(pid, report_r) {
        Ok(msg) => msg,
        Err(gone) => {
            kill_and_reap(pid);
            return Err(TraceError::Spawn {
                program: cmd.program.clone(),
                source: io::Error::other(gone),
            });
        }
    };
    if let Some(error) = stage_error(cmd, &msg) {
        kill_and_reap(pid);
        return Err(error);
    }
    Ok(Spawned {
        pid,
        stdout: File::from(out_r),
        stderr: File::from(err_r),
    })
}

/// The error the child's report `msg` (a stage and an errno) describes, or
/// `None` if it reported nothing.
fn stage_error(cmd: &Command, msg: &[u8]) -> Option<TraceError> {
    let &[stage, a, b, c, d] = msg else {
        return None;
    };
    let source = io::Error::from_raw_os_error(i32::from_le_bytes([a, b, c, d]));
    Some(match stage {
        STAGE_CHDIR => TraceError::Spawn {
            program: cmd.cwd.clone(),
            source: io::Error::new(source.kind(), format!("cannot enter directory: {source}")),
        },
        STAGE_SECCOMP => TraceError::Spawn {
            program: cmd.program.clone(),
            source: io::Error::new(
                source.kind(),
                format!("cannot install the supervisor's seccomp filter ({source})"),
            ),
        },
        stage => match isolate::stage_name(stage) {
            Some(step) => TraceError::Isolation {
                reason: format!("{step} failed for {}: {source}", cmd.program.display()),
            },
            None => TraceError::Spawn {
                program: cmd.program.clone(),
                source,
            },
        },
    })
}

/// How often [`read_report`] looks at the child while its report is silent.
const REPORT_POLL_MS: i32 = 20;

/// Reads the child's report until EOF (its exec closed the pipe, or it
/// died). The child is a tracee from its seizure on: a signal that reaches
/// it before exec (a Ctrl-C on the terminal before its `setpgid`, a
/// SIGKILL from outside) stops it for its tracer, which is this thread, and
/// a tracee stopped at its exit event still holds the pipe open. So while
/// the pipe is silent, the child's stops are taken here and it is resumed:
/// a signal is delivered (the child has default dispositions), the exec
/// and exit events are let through. `Err` says how the child ended if it
/// ended before exec without a report.
fn read_report(pid: i32, report: OwnedFd) -> Result<Vec<u8>, String> {
    let mut msg = Vec::new();
    let mut file = File::from(report);
    let mut ended = None;
    loop {
        let mut fd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut fd, 1, REPORT_POLL_MS) };
        if ready > 0 {
            let mut buf = [0u8; 16];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => msg.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            continue;
        }
        match ptrace::wait_for_nohang(pid) {
            Ok(Some(ptrace::Wait::Signal { signal, .. })) => {
                let _ = ptrace::cont(pid, signal);
            }
            Ok(Some(ptrace::Wait::Exited { code, .. })) => {
                ended = Some(format!(
                    "the process exited with status {code} before it could exec"
                ));
            }
            Ok(Some(ptrace::Wait::Killed { signal, .. })) => {
                ended = Some(format!(
                    "the process was killed by {} before it could exec",
                    ptrace::signal_name(signal)
                ));
            }
            Ok(Some(_)) => {
                let _ = ptrace::cont(pid, 0);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for the process before it could exec: {e}")),
        }
    }
    // The child's own account of a failed step comes first (it writes it,
    // then exits).
    match ended {
        Some(why) if msg.is_empty() => Err(why),
        _ => Ok(msg),
    }
}

/// Kills a (seized) child and waits until it is gone. A tracee dying of
/// SIGKILL still stops at its exit event (`PTRACE_O_TRACEEXIT`), so stops
/// are resumed until the exit is reported.
fn kill_and_reap(pid: i32) {
    // SAFETY: plain syscalls on our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    while let Ok(w) = ptrace::wait_for(pid) {
        if !w.is_stop() {
            break;
        }
        let _ = ptrace::cont(pid, 0);
    }
}

/// The error for a refused `PTRACE_SEIZE`, with how to allow it.
pub fn not_permitted(e: io::Error) -> TraceError {
    let yama = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let hint = match yama {
        Some(3) => "kernel.yama.ptrace_scope is 3, which forbids ptrace until reboot; boot with a lower value (sysctl kernel.yama.ptrace_scope=1 in /etc/sysctl.d)",
        Some(2) => "kernel.yama.ptrace_scope is 2 (admin only): run `sudo sysctl kernel.yama.ptrace_scope=1`, or give the tool CAP_SYS_PTRACE",
        _ => "In a container, allow the ptrace system call (Docker: `--cap-add=SYS_PTRACE --security-opt seccomp=unconfined`); otherwise check kernel.yama.ptrace_scope",
    };
    TraceError::PtraceNotPermitted {
        reason: format!("PTRACE_SEIZE of the test process failed: {e}"),
        hint,
    }
}

/// Checks that this process may trace its own children, by seizing a child
/// that does nothing.
pub fn check_ptrace_permitted() -> Result<(), TraceError> {
    // SAFETY: the child only calls pause (async-signal-safe) until killed.
    let pid = unsafe { fork()? };
    if pid == 0 {
        // SAFETY: freshly forked child; pause and _exit are async-signal-safe.
        unsafe {
            loop {
                libc::pause();
            }
        }
    }
    let res = ptrace::seize(pid).map_err(not_permitted);
    kill_and_reap(pid);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn command(program: &str, args: &[&str], cwd: &str) -> Command {
        Command {
            program: PathBuf::from(program),
            args: args.iter().map(Into::into).collect(),
            env: vec![("GREETING".into(), "hello from the child".into())],
            cwd: PathBuf::from(cwd),
        }
    }

    /// Runs a spawned tracee to its end (resuming its stops); its exit
    /// status and what it wrote to stdout.
    fn finish(spawned: Spawned) -> (i32, String) {
        let mut code = -1;
        while let Ok(w) = ptrace::wait_for(spawned.pid) {
            match w {
                ptrace::Wait::Exited { code: c, .. } => {
                    code = c;
                    break;
                }
                ptrace::Wait::Killed { .. } => break,
                _ => {
                    let _ = ptrace::cont(spawned.pid, 0);
                }
            }
        }
        let mut out = String::new();
        let mut stdout = spawned.stdout;
        stdout.read_to_string(&mut out).unwrap();
        (code, out)
    }

    #[test]
    fn the_child_gets_its_arguments_environment_directory_and_group() {
        let cmd = command(
            "/bin/sh",
            // Builtins only: a forked child would stop for its tracer too.
            &[
                "-c",
                "echo \"$GREETING in $PWD\"; read -r pid comm state ppid pgrp rest < /proc/$$/stat; echo $pgrp; echo $$",
            ],
            "/tmp",
        );
        let (code, out) = finish(spawn(&cmd, None).unwrap());
        assert_eq!(code, 0, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "hello from the child in /tmp");
        // Its own process group, led by itself.
        assert_eq!(lines[1], lines[2], "{out}");
    }

    #[test]
    fn an_isolated_child_has_a_tmp_and_dev_shm_of_its_own_over_the_hosts() {
        let Ok(isolation) = Isolation::new(None) else {
            return;
        };
        if let Err(e) = isolate::available(None) {
            eprintln!("skipping: {e}");
            return;
        }
        let seen = std::env::temp_dir().join(format!("ffc-seen-{}", std::process::id()));
        std::fs::write(&seen, "from the host").unwrap();
        let made = format!("/tmp/ffc-isolated-{}", std::process::id());
        let shm = format!("/dev/shm/sem.ffc-isolated-{}", std::process::id());
        let script = format!(
            "read -r line < {seen}; echo \"$line\"; echo made > {made} && echo made > {shm} && read -r back < {made} && echo \"$back\"",
            seen = seen.display()
        );
        let cmd = command("/bin/sh", &["-c", &script], "/");
        let (code, out) = finish(spawn(&cmd, Some(&isolation)).unwrap());
        let _ = std::fs::remove_file(&seen);
        assert_eq!(code, 0, "{out}");
        // The host's files show through; what the test made stays its own.
        assert_eq!(out, "from the host\nmade\n");
        assert!(!Path::new(&made).exists(), "{made} reached the host's /tmp");
        assert!(
            !Path::new(&shm).exists(),
            "{shm} reached the host's /dev/shm"
        );
    }

    #[test]
    fn a_missing_directory_or_program_is_a_spawn_error_with_its_cause() {
        let Err(e) = spawn(&command("/bin/true", &[], "/no/such/directory"), None) else {
            panic!("spawned in a missing directory");
        };
        let text = e.to_string();
        assert!(text.contains("/no/such/directory"), "{text}");
        assert!(text.contains("cannot enter directory"), "{text}");
        assert!(text.contains("No such file or directory"), "{text}");

        let Err(e) = spawn(&command("/no/such/program", &[], "/"), None) else {
            panic!("spawned a missing program");
        };
        let text = e.to_string();
        assert!(text.contains("/no/such/program"), "{text}");
        assert!(text.contains("No such file or directory"), "{text}");
    }
}
