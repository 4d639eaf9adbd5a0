//! Isolating one test process tree from the others (`Options::isolate`):
//! its own network namespace (ports, abstract Unix sockets; a loopback
//! that is up), its own IPC namespace (System V IPC, POSIX message
//! queues), and a mount namespace where `/tmp` and `/dev/shm` are overlays
//! whose lower layer is the host's directory and whose upper layer is a
//! private tmpfs: the test sees every file that was there (its binary, its
//! crate, `TMPDIR` under either), and what it creates there (a fixed path,
//! a named POSIX semaphore or shared-memory object) is its own, gone with
//! the job. So copies of one test under several seeds run at once without
//! colliding.
//!
//! Without root, a user namespace comes first, mapping the user to itself:
//! the child holds every capability inside it until it execs the test,
//! which then runs as the user, with none. Where the kernel refuses user
//! namespaces to users, isolation is not available ([`available`] says so
//! before anything runs).
//!
//! [`Isolation::enter`] runs in the child that `spawn` clones, before it
//! changes directory: raw system calls on data prepared here, nothing
//! allocated, nothing written to the memory it shares with the supervisor.

use crate::linux::process::raw;
use crate::TraceError;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Which step of [`Isolation::enter`] failed (the child reports it as its
/// stage, with the errno).
pub const STAGE_UNSHARE: u8 = 10;
/// Writing the user namespace's id maps.
pub const STAGE_ID_MAP: u8 = 11;
/// Making the mounts private, mounting the scratch tmpfs or an overlay.
pub const STAGE_MOUNT: u8 = 12;
/// Bringing the loopback interface up.
pub const STAGE_LOOPBACK: u8 = 13;

/// What each stage means, for the error the job reports.
pub fn stage_name(stage: u8) -> Option<&'static str> {
    Some(match stage {
        STAGE_UNSHARE => "creating its namespaces (unshare)",
        STAGE_ID_MAP => "mapping its user into the user namespace",
        STAGE_MOUNT => "mounting its private /tmp and /dev/shm",
        STAGE_LOOPBACK => "bringing up its loopback interface",
        _ => return None,
    })
}

/// One overlay: `target` (the host's directory, the lower layer) with its
/// upper and work directories in the scratch tmpfs.
struct Overlay {
    target: CString,
    upper: CString,
    work: CString,
    options: CString,
}

/// Everything the child needs to isolate itself, prepared before the clone.
pub struct Isolation {
    flags: usize,
    /// `/proc/self/setgroups`, `uid_map`, `gid_map` and what to write to
    /// each, with a user namespace (not as root).
    id_maps: Vec<(CString, CString)>,
    /// A directory of the supervisor's own where the child mounts its
    /// scratch tmpfs (in its own mount namespace: nobody else sees it).
    scratch: CString,
    overlays: Vec<Overlay>,
    root: CString,
    tmpfs: CString,
    overlay: CString,
    scratch_options: CString,
}

fn cstring(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("no NUL in the isolation's fixed strings")
}

/// The directory the children mount their scratch tmpfs on: private to
/// this user, made once.
fn scratch_dir() -> Result<PathBuf, TraceError> {
    use std::os::unix::fs::DirBuilderExt;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("cargo-ffi-check-isolate-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(dir),
        Err(source) => Err(TraceError::Os {
            what: "creating the isolated tests' mount point",
            source,
        }),
    }
}

/// The directories an isolated test sees as overlays of its own.
const OVERLAID: [&str; 2] = ["/dev/shm", "/tmp"];

impl Isolation {
    /// Prepares isolation for this user: overlays for those of `/tmp` and
    /// `/dev/shm` that exist. `shared` is a directory the test's processes
    /// and the supervisor must share (the preloaded library's, where the
    /// schedule's region is a file both map): it must not be under one of
    /// them, where the test would write to a copy of its own.
    pub fn new(shared: Option<&Path>) -> Result<Isolation, TraceError> {
        if let Some(dir) = shared.filter(|d| OVERLAID.iter().any(|o| d.starts_with(o))) {
            return Err(TraceError::Isolation {
                reason: format!(
                    "the preloaded library's directory {} is under /tmp or /dev/shm, which an \
                     isolated test sees as its own copy; set XDG_CACHE_HOME (or HOME) to a \
                     directory elsewhere",
                    dir.display()
                ),
            });
        }
        let scratch = scratch_dir()?;
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut flags = libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWNS;
        let mut id_maps = Vec::new();
        if uid != 0 {
            flags |= libc::CLONE_NEWUSER;
            id_maps = vec![
                (cstring(b"/proc/self/setgroups"), cstring(b"deny")),
                (
                    cstring(b"/proc/self/uid_map"),
                    cstring(format!("{uid} {uid} 1").as_bytes()),
                ),
                (
                    cstring(b"/proc/self/gid_map"),
                    cstring(format!("{gid} {gid} 1").as_bytes()),
                ),
            ];
        }
        // /dev/shm first: its options name the upper layers relative to the
        // scratch tmpfs (the child's directory then), which an overlay of
        // /tmp would hide if the scratch directory is under /tmp.
        let overlays = OVERLAID
            .iter()
            .enumerate()
            .filter(|(_, dir)| Path::new(dir).is_dir())
            .map(|(i, dir)| {
                let user = if uid != 0 { ",userxattr" } else { "" };
                Overlay {
                    target: cstring(dir.as_bytes()),
                    upper: cstring(format!("upper{i}").as_bytes()),
                    work: cstring(format!("work{i}").as_bytes()),
                    options: cstring(
                        format!("lowerdir={dir},upperdir=upper{i},workdir=work{i}{user}")
                            .as_bytes(),
                    ),
                }
            })
            .collect();
        Ok(Isolation {
            flags: flags as usize,
            id_maps,
            scratch: cstring(scratch.as_os_str().as_bytes()),
            overlays,
            root: cstring(b"/"),
            tmpfs: cstring(b"tmpfs"),
            overlay: cstring(b"overlay"),
            scratch_options: cstring(b"mode=700"),
        })
    }

    /// In the child, before it changes to the test's directory: enters new
    /// namespaces and sets them up. Returns the failed stage and the raw
    /// result of its system call.
    ///
    /// # Safety
    /// Only in the child that `spawn` clones, which shares the supervisor's
    /// memory: it makes raw system calls on `self` (alive until the child
    /// execs) and on its own stack, and writes nothing else.
    pub unsafe fn enter(&self) -> Result<(), (u8, isize)> {
        let sys = |nr: libc::c_long, args: [usize; 6]| {
            // SAFETY: every call below passes pointers to NUL-terminated
            // strings of `self` or to the child's own stack, as the caller
            // promises they stay valid.
            unsafe { raw::syscall(nr, args) }
        };
        let check = |stage: u8, r: isize| if r < 0 { Err((stage, r)) } else { Ok(r) };
        check(
            STAGE_UNSHARE,
            sys(libc::SYS_unshare, [self.flags, 0, 0, 0, 0, 0]),
        )?;
        for (path, content) in &self.id_maps {
            let fd = check(
                STAGE_ID_MAP,
                sys(
                    libc::SYS_openat,
                    [
                        libc::AT_FDCWD as usize,
                        path.as_ptr() as usize,
                        (libc::O_WRONLY | libc::O_CLOEXEC) as usize,
                        0,
                        0,
                        0,
                    ],
                ),
            )?;
            let len = content.as_bytes().len();
            let written = sys(
                libc::SYS_write,
                [fd as usize, content.as_ptr() as usize, len, 0, 0, 0],
            );
            sys(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
            check(STAGE_ID_MAP, written)?;
        }
        let mount = |source: &CString, target: &CString, fstype: usize, flags: u64, data: usize| {
            sys(
                libc::SYS_mount,
                [
                    source.as_ptr() as usize,
                    target.as_ptr() as usize,
                    fstype,
                    flags as usize,
                    data,
                    0,
                ],
            )
        };
        // Nothing mounted here propagates to the host.
        let private = libc::MS_REC | libc::MS_PRIVATE;
        check(STAGE_MOUNT, mount(&self.root, &self.root, 0, private, 0))?;
        let nosuid = libc::MS_NOSUID | libc::MS_NODEV;
        check(
            STAGE_MOUNT,
            mount(
                &self.tmpfs,
                &self.scratch,
                self.tmpfs.as_ptr() as usize,
                nosuid,
                self.scratch_options.as_ptr() as usize,
            ),
        )?;
        check(
            STAGE_MOUNT,
            sys(
                libc::SYS_chdir,
                [self.scratch.as_ptr() as usize, 0, 0, 0, 0, 0],
            ),
        )?;
        for o in &self.overlays {
            for (dir, mode) in [(&o.upper, 0o1777), (&o.work, 0o700)] {
                let at = libc::AT_FDCWD as usize;
                check(
                    STAGE_MOUNT,
                    sys(
                        libc::SYS_mkdirat,
                        [at, dir.as_ptr() as usize, mode, 0, 0, 0],
                    ),
                )?;
                // mkdir's mode is masked by the umask; the sticky bit of
                // /tmp is wanted as it is.
                check(
                    STAGE_MOUNT,
                    sys(
                        libc::SYS_fchmodat,
                        [at, dir.as_ptr() as usize, mode, 0, 0, 0],
                    ),
                )?;
            }
            let data = o.options.as_ptr() as usize;
            check(
                STAGE_MOUNT,
                mount(
                    &self.overlay,
                    &o.target,
                    self.overlay.as_ptr() as usize,
                    0,
                    data,
                ),
            )?;
        }
        self.loopback_up()
    }

    /// Brings `lo` up in the new network namespace (it starts down).
    fn loopback_up(&self) -> Result<(), (u8, isize)> {
        let sys = |nr: libc::c_long, args: [usize; 6]| {
            // SAFETY: the socket calls take integers and a pointer to the
            // interface request on this stack.
            unsafe { raw::syscall(nr, args) }
        };
        let s = sys(
            libc::SYS_socket,
            [
                libc::AF_INET as usize,
                (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize,
                0,
                0,
                0,
                0,
            ],
        );
        if s < 0 {
            return Err((STAGE_LOOPBACK, s));
        }
        // struct ifreq: the name, then (a union) the flags as a short.
        let mut request = [0u8; 40];
        request[..2].copy_from_slice(b"lo");
        let at = request.as_mut_ptr() as usize;
        let mut r = sys(
            libc::SYS_ioctl,
            [s as usize, libc::SIOCGIFFLAGS as usize, at, 0, 0, 0],
        );
        if r >= 0 {
            let flags = i16::from_ne_bytes([request[16], request[17]]) | libc::IFF_UP as i16;
            request[16..18].copy_from_slice(&flags.to_ne_bytes());
            r = sys(
                libc::SYS_ioctl,
                [s as usize, libc::SIOCSIFFLAGS as usize, at, 0, 0, 0],
            );
        }
        sys(libc::SYS_close, [s as usize, 0, 0, 0, 0, 0]);
        if r < 0 {
            return Err((STAGE_LOOPBACK, r));
        }
        Ok(())
    }
}

/// Whether this user may isolate tests here: a child process tries to
/// enter the namespaces `Isolation` would. The error says why not and what
/// to do.
pub fn available(shared: Option<&Path>) -> Result<(), TraceError> {
    let isolation = Isolation::new(shared)?;
    // SAFETY: the child makes one raw system call and exits; it allocates
    // nothing and takes no lock (the process may have other threads).
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(TraceError::Os {
            what: "fork",
            source: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        // SAFETY: unshare of the prepared flags, then exit_group with its
        // errno: raw calls only, in the forked child.
        unsafe {
            let r = raw::syscall(libc::SYS_unshare, [isolation.flags, 0, 0, 0, 0, 0]);
            raw::syscall(
                libc::SYS_exit_group,
                [raw::errno_of(r) as usize, 0, 0, 0, 0, 0],
            );
        }
        unreachable!("exit_group returned");
    }
    let mut status = 0;
    // SAFETY: waits for our own child into a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let errno = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        libc::EINVAL
    };
    if errno == 0 {
        return Ok(());
    }
    let source = io::Error::from_raw_os_error(errno);
    Err(TraceError::Isolation {
        reason: format!(
            "this kernel does not let {} create network, IPC and mount namespaces{} ({source})",
            if isolation.id_maps.is_empty() {
                "root"
            } else {
                "this user"
            },
            if isolation.id_maps.is_empty() {
                ""
            } else {
                " in a user namespace (unprivileged user namespaces are disabled: \
                 see sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone, \
                 or AppArmor's restriction of them)"
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_directory_under_an_overlaid_one_is_refused_with_the_way_out() {
        let err = Isolation::new(Some(Path::new("/tmp/cargo-ffi-check-0")))
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(
            text.contains("/tmp/cargo-ffi-check-0 is under /tmp"),
            "{text}"
        );
        assert!(text.contains("XDG_CACHE_HOME"), "{text}");
        assert!(Isolation::new(Some(Path::new("/root/.cache/cargo-ffi-check"))).is_ok());
    }

    #[test]
    fn every_stage_has_a_name_for_its_error() {
        for stage in [STAGE_UNSHARE, STAGE_ID_MAP, STAGE_MOUNT, STAGE_LOOPBACK] {
            assert!(stage_name(stage).is_some(), "{stage}");
        }
        assert_eq!(stage_name(1), None);
    }
}
