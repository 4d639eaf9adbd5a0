//! Whether a blocked thread waits for the test or for something outside it.
//!
//! A hang is declared only when every blocked thread waits for something
//! that only the test's own threads and processes can provide: a futex, a
//! child (`wait4`), a pipe, FIFO, socketpair or eventfd whose other ends are
//! all held by the test's processes, a loopback TCP connection whose other
//! end is the test's. A wait that a timer (alarm, setitimer, POSIX timers,
//! timerfd) or a peer outside the test (a server, inotify, a terminal, any
//! process that may send a datagram or connect) can end is external: such a
//! test is left to the timeout. When in doubt, a wait is external: a false
//! hang costs users more than a late one.

use crate::linux::hang::sockets::{self, TcpSocket};
use crate::linux::hang::timers::Timers;
use crate::linux::process::memory;
use crate::linux::syscalls::Syscall;
use std::collections::{HashMap, HashSet};
use std::os::linux::fs::MetadataExt;
use std::time::Instant;

/// Which way a thread waits on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// For data to read (the writers must act).
    Read,
    /// For room to write (the readers must act).
    Write,
}

/// What the system knows about every open descriptor, gathered once per
/// decision and only as far as a question needs it.
pub struct Census<'a> {
    /// The test's processes.
    test: &'a HashSet<i32>,
    /// The test's armed timers.
    timers: &'a Timers,
    now: Instant,
    /// Every descriptor of every process that can be read: (pid, fd, link).
    fds: Option<Vec<(i32, i32, String)>>,
    unix_peers: Option<HashMap<u64, u64>>,
    tcp: Option<Vec<TcpSocket>>,
}

impl<'a> Census<'a> {
    /// A census for the test made of `test`'s processes, whose armed timers
    /// are `timers`, at `now`.
    pub fn new(test: &'a HashSet<i32>, timers: &'a Timers, now: Instant) -> Census<'a> {
        Census {
            test,
            timers,
            now,
            fds: None,
            unix_peers: None,
            tcp: None,
        }
    }

    /// Every descriptor of every process this user can read.
    fn fds(&mut self) -> &[(i32, i32, String)] {
        self.fds.get_or_insert_with(|| {
            let mut all = Vec::new();
            let Ok(procs) = std::fs::read_dir("/proc") else {
                return all;
            };
            for p in procs.flatten() {
                let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                    continue;
                };
                for f in fds.flatten() {
                    let Ok(fd) = f.file_name().to_string_lossy().parse::<i32>() else {
                        continue;
                    };
                    if let Ok(link) = std::fs::read_link(f.path()) {
                        all.push((pid, fd, link.to_string_lossy().into_owned()));
                    }
                }
            }
            all
        })
    }

    /// Whether a process outside the test holds a descriptor for which
    /// `wanted(pid, fd, link)` holds.
    fn held_outside(&mut self, wanted: impl Fn(i32, i32, &str) -> bool) -> bool {
        let test = self.test;
        self.fds()
            .iter()
            .any(|(pid, fd, link)| !test.contains(pid) && wanted(*pid, *fd, link))
    }

    /// Why process `pid` waiting on descriptor `fd` in `dir` may be woken
    /// from outside the test, or `None` if only the test can wake it.
    fn fd_external(&mut self, pid: i32, fd: i32, dir: Direction) -> Option<String> {
        let path = format!("/proc/{pid}/fd/{fd}");
        let Ok(link) = std::fs::read_link(&path) else {
            return Some(format!("descriptor {fd}, which cannot be read"));
        };
        let link = link.to_string_lossy().into_owned();
        if link.starts_with("pipe:[") {
            return self.pipe_external(&link, dir);
        }
        if let Some(ino) = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok())
        {
            return self.socket_external(ino, &link);
        }
        match link.as_str() {
            "anon_inode:[eventfd]" => {
                let id = fdinfo_field(pid, fd, "eventfd-id:");
                match id {
                    Some(id) => {
                        let outside = self.held_outside(|p, f, l| {
                            l == "anon_inode:[eventfd]"
                                && fdinfo_field(p, f, "eventfd-id:").as_deref() == Some(&id)
                        });
                        outside.then(|| "an eventfd shared with a process outside the test".into())
                    }
                    None => Some("an eventfd".into()),
                }
            }
            "anon_inode:[timerfd]" => {
                let value = fdinfo_field(pid, fd, "it_value:").unwrap_or_default();
                let disarmed = value.replace(' ', "") == "(0,0)";
                (!disarmed).then(|| "an armed timerfd".into())
            }
            "anon_inode:[signalfd]" => self.signals_external(pid),
            "anon_inode:[eventpoll]" => self.epoll_external(pid, fd, 0),
            "anon_inode:inotify" | "anon_inode:[fanotify]" => {
                Some("inotify: changes made outside the test".into())
            }
            _ => {
                // A named FIFO is a pipe; anything else (a terminal, a device)
                // is fed from outside.
                let fifo = std::fs::metadata(&path)
                    .is_ok_and(|m| m.st_mode() & libc::S_IFMT == libc::S_IFIFO);
                if fifo {
                    self.pipe_external(&link, dir)
                } else {
                    Some(format!("{link}, fed from outside the test"))
                }
            }
        }
    }

    /// A pipe or FIFO (`link`): whether a process outside the test holds
    /// the end that would wake the wait (the write end for a reader).
    fn pipe_external(&mut self, link: &str, dir: Direction) -> Option<String> {
        let outside = self.held_outside(|p, f, l| {
            l == link && {
                let mode = fdinfo_field(p, f, "flags:")
                    .and_then(|v| u32::from_str_radix(&v, 8).ok())
                    .map_or(libc::O_RDWR as u32, |flags| flags & libc::O_ACCMODE as u32);
                match dir {
                    Direction::Read => mode != libc::O_RDONLY as u32,
                    Direction::Write => mode != libc::O_WRONLY as u32,
                }
            }
        });
        outside.then(|| format!("{link}, whose other end a process outside the test holds"))
    }

    /// A socket of inode `ino`: only a connected unix socket or a loopback
    /// TCP connection whose other end the test holds is the test's own.
    fn socket_external(&mut self, ino: u64, link: &str) -> Option<String> {
        let peers = self
            .unix_peers
            .get_or_insert_with(|| sockets::unix_peers().unwrap_or_default());
        let peer = match peers.get(&ino).copied() {
            Some(p) => Some(p),
            None => {
                let tcp = self.tcp.get_or_insert_with(sockets::tcp_sockets);
                if !tcp.iter().any(|s| s.inode == ino) {
                    return Some(format!(
                        "{link}, which a process outside the test may write to"
                    ));
                }
                sockets::tcp_peer(tcp, ino)
            }
        };
        let Some(peer) = peer else {
            return Some(format!("{link}, connected to a peer outside the test"));
        };
        let peer_link = format!("socket:[{peer}]");
        let outside = self.held_outside(|_, _, l| l == peer_link);
        let test = self.test;
        let inside = self
            .fds()
            .iter()
            .any(|(p, _, l)| *l == peer_link && test.contains(p));
        (outside || !inside).then(|| format!("{link}, connected to a peer outside the test"))
    }

    /// A wait for signals: a timer of the process may send one.
    fn signals_external(&self, pid: i32) -> Option<String> {
        self.timers
            .armed(pid, self.now)
            .then(|| "a signal, and a timer of the process is armed".into())
    }

    /// An epoll set: external if any descriptor in it is.
    fn epoll_external(&mut self, pid: i32, epfd: i32, depth: u32) -> Option<String> {
        if depth > 4 {
            return Some("nested epoll sets".into());
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")).ok()?;
        for line in info.lines().filter(|l| l.starts_with("tfd:")) {
            let mut fields = line.split_whitespace();
            let fd: i32 = fields.nth(1).and_then(|f| f.parse().ok())?;
            let events = fields
                .skip_while(|f| *f != "events:")
                .nth(1)
                .and_then(|e| u32::from_str_radix(e, 16).ok())
                .unwrap_or(u32::MAX);
            for dir in directions(events, libc::EPOLLIN as u32, libc::EPOLLOUT as u32) {
                if let Some(why) = self.fd_external(pid, fd, dir) {
                    return Some(why);
                }
            }
        }
        None
    }

    /// Why thread `tid` of `pid`, blocked in `call`, may be woken from
    /// outside the test; `None` if only the test can wake it.
    pub fn wait_external(&mut self, pid: i32, tid: i32, call: &Syscall) -> Option<String> {
        let a = call.args;
        let fd = a[0] as i32;
        match call.nr {
            libc::SYS_read
            | libc::SYS_readv
            | libc::SYS_recvfrom
            | libc::SYS_recvmsg
            | libc::SYS_recvmmsg => self.fd_external(pid, fd, Direction::Read),
            libc::SYS_write
            | libc::SYS_writev
            | libc::SYS_sendto
            | libc::SYS_sendmsg
            | libc::SYS_sendmmsg => self.fd_external(pid, fd, Direction::Write),
            libc::SYS_poll | libc::SYS_ppoll => self.poll_external(pid, tid, a[0], a[1]),
            libc::SYS_select | libc::SYS_pselect6 => self.select_external(pid, tid, call),
            libc::SYS_epoll_wait | libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2 => {
                self.epoll_external(pid, fd, 0)
            }
            libc::SYS_pause | libc::SYS_rt_sigsuspend | libc::SYS_rt_sigtimedwait => {
                self.signals_external(pid)
            }
            libc::SYS_accept | libc::SYS_accept4 => Some("accept: anyone may connect".into()),
            libc::SYS_msgrcv | libc::SYS_semop | libc::SYS_semtimedop => {
                Some("System V IPC, which other processes may use".into())
            }
            _ => None,
        }
    }

    /// `poll(fds, nfds, ...)`: external if any polled descriptor is.
    fn poll_external(&mut self, pid: i32, tid: i32, fds: u64, nfds: u64) -> Option<String> {
        let n = usize::try_from(nfds).ok()?.min(4096);
        let mut raw = vec![0u8; n * 8];
        if memory::read(tid, fds, &mut raw) != raw.len() {
            return Some("poll on descriptors that cannot be read".into());
        }
        for entry in raw.chunks_exact(8) {
            let fd = i32::from_ne_bytes(entry[..4].try_into().unwrap_or_default());
            let events = u16::from_ne_bytes(entry[4..6].try_into().unwrap_or_default());
            if fd < 0 {
                continue;
            }
            let (read, write) = ((libc::POLLIN | libc::POLLPRI) as u32, libc::POLLOUT as u32);
            for dir in directions(u32::from(events), read, write) {
                if let Some(why) = self.fd_external(pid, fd, dir) {
                    return Some(why);
                }
            }
        }
        None
    }

    /// `select(nfds, readfds, writefds, exceptfds, ...)`: external if any
    /// selected descriptor is.
    fn select_external(&mut self, pid: i32, tid: i32, call: &Syscall) -> Option<String> {
        let nfds = usize::try_from(call.args[0]).ok()?.min(libc::FD_SETSIZE);
        let words = nfds.div_ceil(64);
        for (set, dir) in [
            (call.args[1], Direction::Read),
            (call.args[2], Direction::Write),
            (call.args[3], Direction::Read),
        ] {
            if set == 0 {
                continue;
            }
            let mut raw = vec![0u8; words * 8];
            if memory::read(tid, set, &mut raw) != raw.len() {
                return Some("select on descriptors that cannot be read".into());
            }
            for fd in 0..nfds {
                if raw[fd / 8] & (1 << (fd % 8)) != 0 {
                    if let Some(why) = self.fd_external(pid, fd as i32, dir) {
                        return Some(why);
                    }
                }
            }
        }
        None
    }
}

/// The directions a set of poll-style `events` waits in.
fn directions(events: u32, read: u32, write: u32) -> Vec<Direction> {
    let mut out = Vec::new();
    if events & read != 0 {
        out.push(Direction::Read);
    }
    if events & write != 0 {
        out.push(Direction::Write);
    }
    out
}

/// A field of `/proc/PID/fdinfo/FD` (`flags:`, `eventfd-id:`, `it_value:`),
/// the rest of its line.
fn fdinfo_field(pid: i32, fd: i32, name: &str) -> Option<String> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn census_of<'a>(test: &'a HashSet<i32>, timers: &'a Timers) -> Census<'a> {
        Census::new(test, timers, Instant::now())
    }

    fn read_on(fd: i32) -> Syscall {
        Syscall {
            nr: libc::SYS_read,
            args: [fd as u64, 0, 1, 0, 0, 0],
        }
    }

    #[test]
    fn a_pipe_held_only_inside_the_test_is_the_tests() {
        let me = std::process::id() as i32;
        let (r, w) = std::io::pipe().unwrap();
        let timers = Timers::default();
        let test: HashSet<i32> = [me].into();
        let mut census = census_of(&test, &timers);
        assert_eq!(census.wait_external(me, me, &read_on(r.as_raw_fd())), None);
        // Seen as another process's pipe, its write end is outside.
        let elsewhere: HashSet<i32> = [me + 1_000_000].into();
        let mut census = census_of(&elsewhere, &timers);
        assert!(census
            .wait_external(me, me, &read_on(r.as_raw_fd()))
            .is_some());
        drop(w);
    }

    #[test]
    fn sockets_are_the_tests_only_with_their_peer_inside() {
        let me = std::process::id() as i32;
        let timers = Timers::default();
        let test: HashSet<i32> = [me].into();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut census = census_of(&test, &timers);
        assert_eq!(census.wait_external(me, me, &read_on(a.as_raw_fd())), None);
        assert_eq!(
            census.wait_external(me, me, &read_on(client.as_raw_fd())),
            None
        );
        assert!(census
            .wait_external(me, me, &read_on(udp.as_raw_fd()))
            .is_some());
        let accept = Syscall {
            nr: libc::SYS_accept4,
            args: [listener.as_raw_fd() as u64, 0, 0, 0, 0, 0],
        };
        assert!(census.wait_external(me, me, &accept).is_some());
    }

    #[test]
    fn signal_waits_are_external_only_while_a_timer_is_armed() {
        let me = std::process::id() as i32;
        let mut timers = Timers::default();
        let test: HashSet<i32> = [me].into();
        let pause = Syscall {
            nr: libc::SYS_pause,
            args: [0; 6],
        };
        assert_eq!(
            census_of(&test, &timers).wait_external(me, me, &pause),
            None
        );
        let alarm = Syscall {
            nr: libc::SYS_alarm,
            args: [5, 0, 0, 0, 0, 0],
        };
        timers.on_call(me, me, &alarm, Instant::now());
        assert!(census_of(&test, &timers)
            .wait_external(me, me, &pause)
            .is_some());
    }
}
