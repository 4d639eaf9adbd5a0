//! Who is at the other end of a socket: the peer of a connected unix socket
//! (from the kernel's `sock_diag` netlink interface, which `ss` uses too),
//! and the local socket at the other end of a TCP connection (from
//! `/proc/net/tcp` and `tcp6`), each by its inode.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `UDIAG_SHOW_PEER`: report each socket's peer inode.
const UDIAG_SHOW_PEER: u32 = 0x4;
/// `UNIX_DIAG_PEER`: the attribute holding the peer inode.
const UNIX_DIAG_PEER: u16 = 2;
/// `NLMSG_DONE` and `NLMSG_ERROR`.
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;

/// `struct nlmsghdr` followed by `struct unix_diag_req`.
#[repr(C)]
struct Request {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    ino: u32,
    show: u32,
    cookie: [u32; 2],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The peer inode of every connected unix socket of this network namespace.
pub fn unix_peers() -> io::Result<HashMap<u64, u64>> {
    // SAFETY: socket has no memory-safety preconditions; the descriptor is
    // owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let req = Request {
        len: std::mem::size_of::<Request>() as u32,
        kind: SOCK_DIAG_BY_FAMILY,
        flags: (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
        seq: 1,
        pid: 0,
        family: libc::AF_UNIX as u8,
        protocol: 0,
        pad: 0,
        states: u32::MAX,
        ino: 0,
        show: UDIAG_SHOW_PEER,
        cookie: [u32::MAX; 2],
    };
    // SAFETY: sends the bytes of `req`, a plain repr(C) value alive for the call.
    let sent = unsafe {
        libc::send(
            sock.as_raw_fd(),
            (&req as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut peers = HashMap::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // SAFETY: receives into `buf`, owned and as long as said.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut at = 0;
        let got = &buf[..n as usize];
        while let (Some(len), Some(kind)) = (u32_at(got, at), u16_at(got, at + 4)) {
            let len = len as usize;
            if len < 16 || at + len > got.len() {
                break;
            }
            match kind {
                NLMSG_DONE => return Ok(peers),
                NLMSG_ERROR => return Err(io::Error::other("sock_diag refused the request")),
                _ => {
                    let msg = &got[at + 16..at + len];
                    // struct unix_diag_msg: family, type, state, pad, ino, cookie[2].
                    if let Some(ino) = u32_at(msg, 4) {
                        let mut attr = 16;
                        while let (Some(alen), Some(atype)) =
                            (u16_at(msg, attr), u16_at(msg, attr + 2))
                        {
                            let alen = alen as usize;
                            if alen < 4 {
                                break;
                            }
                            if atype == UNIX_DIAG_PEER {
                                if let Some(peer) = u32_at(msg, attr + 4) {
                                    peers.insert(u64::from(ino), u64::from(peer));
                                }
                            }
                            attr += (alen + 3) & !3;
                        }
                    }
                }
            }
            at += (len + 3) & !3;
        }
    }
}

/// One line of `/proc/net/tcp` or `tcp6`: a socket's two ends and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    /// Local address and port.
    pub local: (IpAddr, u16),
    /// Remote address and port (unspecified for a listening socket).
    pub remote: (IpAddr, u16),
    /// Its inode (`socket:[INODE]`).
    pub inode: u64,
}

/// An address and port as `/proc/net/tcp` writes them: the address in hex,
/// as the kernel stores it (each 32-bit word in host byte order), then the
/// port in hex. IPv4 addresses mapped into IPv6 become IPv4.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_le_bytes(),
        )
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses the text of `/proc/net/tcp` or `tcp6`.
pub fn parse_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(TcpSocket {
                local: parse_endpoint(f.get(1)?)?,
                remote: parse_endpoint(f.get(2)?)?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Every TCP socket of this network namespace.
pub fn tcp_sockets() -> Vec<TcpSocket> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| parse_tcp(&t))
        .collect()
}

/// The inode of the socket at the other end of TCP socket `inode`, when
/// that end is on this machine.
pub fn tcp_peer(sockets: &[TcpSocket], inode: u64) -> Option<u64> {
    let me = sockets.iter().find(|s| s.inode == inode)?;
    sockets
        .iter()
        .find(|s| s.local == me.remote && s.remote == me.local && s.inode != 0)
        .map(|s| s.inode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::fs::MetadataExt;

    fn inode_of(fd: i32) -> u64 {
        std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .st_ino()
    }

    #[test]
    fn finds_the_peer_of_a_socketpair() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let peers = unix_peers().unwrap();
        let (ia, ib) = (inode_of(a.as_raw_fd()), inode_of(b.as_raw_fd()));
        assert_eq!(peers.get(&ia), Some(&ib));
        assert_eq!(peers.get(&ib), Some(&ia));
    }

    #[test]
    fn finds_the_local_end_of_a_loopback_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let sockets = tcp_sockets();
        let (ic, is) = (inode_of(client.as_raw_fd()), inode_of(server.as_raw_fd()));
        assert_eq!(tcp_peer(&sockets, ic), Some(is));
        assert_eq!(tcp_peer(&sockets, is), Some(ic));
    }

    #[test]
    fn parses_v4_and_mapped_v6_endpoints() {
        assert_eq!(
            parse_endpoint("0100007F:1F90"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 8080))
        );
        assert_eq!(
            parse_endpoint("0000000000000000FFFF00000100007F:0050"),
            Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 80))
        );
        assert_eq!(
            parse_endpoint("00000000000000000000000001000000:0016"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 22))
        );
    }
}
