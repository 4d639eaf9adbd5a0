//! Answering the pass-through filter of processes handed over to the test's
//! own ptrace: one thread of the supervisor's process polls every listener
//! and lets each notified system call go on (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`),
//! for as long as some process uses the filter. A listener whose processes
//! are all gone reports a hang-up and is closed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

/// The listeners to serve, and an eventfd that wakes the server when one
/// is added.
struct Server {
    new: Mutex<Vec<OwnedFd>>,
    wake: OwnedFd,
}

fn server() -> io::Result<&'static Server> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            // SAFETY: eventfd has no memory-safety preconditions; the new
            // descriptor is owned at once.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error().to_string());
            }
            // SAFETY: a fresh descriptor nothing else owns.
            let wake = unsafe { OwnedFd::from_raw_fd(fd) };
            std::thread::Builder::new()
                .name("ffi-check-notify".into())
                .spawn(serve)
                .map_err(|e| e.to_string())?;
            Ok(Server {
                new: Mutex::new(Vec::new()),
                wake,
            })
        })
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

/// Lets every system call notified on `listener` continue, from now on.
pub fn pass_through(listener: OwnedFd) -> io::Result<()> {
    let s = server()?;
    s.new
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(listener);
    let one: u64 = 1;
    // SAFETY: writes the 8 bytes of `one` to the server's eventfd.
    unsafe { libc::write(s.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    Ok(())
}

/// The server thread: polls the wake eventfd and every listener.
fn serve() {
    let Ok(s) = server() else {
        return;
    };
    let mut listeners: Vec<OwnedFd> = Vec::new();
    loop {
        let mut fds: Vec<libc::pollfd> = std::iter::once(s.wake.as_raw_fd())
            .chain(listeners.iter().map(|l| l.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polls `fds`, a live array of the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into `count`.
            unsafe { libc::read(s.wake.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
            listeners.extend(s.new.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
        }
        let mut gone = Vec::new();
        for (i, p) in fds.iter().enumerate().skip(1) {
            if p.revents & libc::POLLIN != 0 {
                answer(p.fd);
            } else if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                gone.push(i - 1);
            }
        }
        for i in gone.into_iter().rev() {
            listeners.swap_remove(i);
        }
    }
}

/// Receives one notification on `listener` and lets its call continue.
fn answer(listener: RawFd) {
    // SAFETY: seccomp_notif is plain data; the kernel fills it (it must be
    // zeroed on entry).
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into `notif`.
    let got = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    if got != 0 {
        return; // The caller went away (a signal, an exit) meanwhile.
    }
    let resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp from `resp`.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
}
