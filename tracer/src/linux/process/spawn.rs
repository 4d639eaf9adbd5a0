//! Starting the command as a seized tracee.
//!
//! The child is forked by hand (not with `std::process::Command`) because the
//! supervisor must attach with `PTRACE_SEIZE` *between* fork and exec: the
//! child blocks on a pipe until the parent has seized it, then execs, so not
//! one instruction of the test runs untraced. Between fork and exec the child
//! only makes async-signal-safe calls on data prepared before the fork.

use crate::linux::process::seccomp::Filter;
use crate::linux::process::{proc, ptrace};
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

/// The child side: runs between fork and exec. Never returns.
///
/// # Safety
/// Must only be called in a freshly forked child; it only makes
/// async-signal-safe calls on memory prepared before the fork.
unsafe fn child(p: &Prepared, devnull: i32, out: i32, err: i32, sync: i32, report: i32) -> ! {
    // SAFETY: the caller guarantees a freshly forked child; everything
    // below is an async-signal-safe system call on memory prepared before
    // the fork (`p`) or on the stack, and the process ends in execve or
    // _exit.
    unsafe {
        let fail = |stage: u8| -> ! {
            let errno = *libc::__errno_location();
            let mut msg = [0u8; 5];
            msg[0] = stage;
            msg[1..].copy_from_slice(&errno.to_le_bytes());
            libc::write(report, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        };
        // Own process group, so a timeout can kill the whole tree at once and a
        // Ctrl-C on the terminal reaches only the supervisor.
        libc::setpgid(0, 0);
        libc::dup2(devnull, 0);
        libc::dup2(out, 1);
        libc::dup2(err, 2);
        // Undo what the supervisor's runtime set up: Rust ignores SIGPIPE, and an
        // ignored disposition would survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // And the supervisor's own handlers (Ctrl-C): a signal that reaches
        // the child before exec acts as on the test.
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGHUP, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            fail(STAGE_CHDIR);
        }
        // Wait until the parent has seized us (or died: then read returns 0).
        let mut byte = 0u8;
        loop {
            let n = libc::read(sync, (&mut byte as *mut u8).cast(), 1);
            if n == 1 {
                break;
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if p.filter.install().is_err() {
            fail(STAGE_SECCOMP);
        }
        libc::execve(p.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(STAGE_EXEC)
    }
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

/// Forks, seizes and execs `cmd`. On return the tracee is running (or about
/// to report its `PTRACE_EVENT_EXEC` stop) and `exec` has succeeded. With
/// The supervisor's seccomp filter is installed first.
pub fn spawn(cmd: &Command) -> Result<Spawned, TraceError> {
    let prepared = prepare(cmd)?;
    let devnull = File::open("/dev/null").map_err(|source| TraceError::Os {
        what: "opening /dev/null",
        source,
    })?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (sync_r, sync_w) = pipe()?;
    let (report_r, report_w) = pipe()?;

    // SAFETY: the child branch only calls `child`, which is async-signal-safe
    // and never returns; the parent continues normally.
    let pid = unsafe { fork()? };
    if pid == 0 {
        // SAFETY: we are the freshly forked child.
        unsafe {
            child(
                &prepared,
                devnull.as_raw_fd(),
                out_w.as_raw_fd(),
                err_w.as_raw_fd(),
                sync_r.as_raw_fd(),
                report_w.as_raw_fd(),
            )
        }
    }
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
        return Err(if ended {
            TraceError::Spawn {
                program: cmd.program.clone(),
                source: io::Error::other("the process ended before it could be traced"),
            }
        } else {
            not_permitted(e)
        });
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
    if msg.len() == 5 {
        kill_and_reap(pid);
        let errno = i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]]);
        let source = io::Error::from_raw_os_error(errno);
        return Err(match msg[0] {
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
            _ => TraceError::Spawn {
                program: cmd.program.clone(),
                source,
            },
        });
    }
    Ok(Spawned {
        pid,
        stdout: File::from(out_r),
        stderr: File::from(err_r),
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
