//! Collecting a tracee's stdout and stderr on background threads, bounded:
//! past a limit the middle of the output is dropped (the head and the tail
//! are kept, and the output says how much is missing), so a test that
//! prints without end cannot exhaust the supervisor's memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The first and last bytes of a stream, and how many in between were dropped.
struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    /// Bytes kept at each end.
    half: usize,
    dropped: u64,
}

impl Kept {
    fn new(limit: usize) -> Kept {
        Kept {
            head: Vec::new(),
            tail: VecDeque::new(),
            half: limit / 2,
            dropped: 0,
        }
    }

    fn push(&mut self, mut chunk: &[u8]) {
        let room = self.half.saturating_sub(self.head.len());
        let (first, rest) = chunk.split_at(room.min(chunk.len()));
        self.head.extend_from_slice(first);
        chunk = rest;
        self.tail.extend(chunk);
        let over = self.tail.len().saturating_sub(self.half);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!(
                    "\n[cargo ffi-check: {} bytes of output dropped here; the first and last {} are kept]\n",
                    self.dropped,
                    size(self.half)
                )
                .as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// One output stream being read to its end.
pub struct Capture {
    kept: Arc<Mutex<Kept>>,
    done: mpsc::Receiver<()>,
    _thread: JoinHandle<()>,
}

impl Capture {
    /// Starts reading `file` until EOF, keeping at most about `limit` bytes.
    pub fn start(mut file: File, name: &str, limit: usize) -> Capture {
        let kept = Arc::new(Mutex::new(Kept::new(limit)));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&kept);
        let thread = std::thread::Builder::new()
            .name(format!("ffi-check-{name}"))
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match file.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => sink
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            })
            .expect("spawning an output reader thread");
        Capture {
            kept,
            done,
            _thread: thread,
        }
    }

    /// Everything kept, after waiting until `deadline` at most for EOF (a
    /// process outside the traced tree might still hold the pipe open).
    pub fn finish(self, deadline: Instant) -> Vec<u8> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = self.done.recv_timeout(wait.max(Duration::from_millis(1)));
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *kept, Kept::new(0)).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_limit() {
        let mut k = Kept::new(100);
        k.push(b"hello ");
        k.push(b"world");
        assert_eq!(k.into_bytes(), b"hello world");
    }

    #[test]
    fn keeps_the_head_and_the_tail_and_says_what_was_dropped() {
        let mut k = Kept::new(8);
        for chunk in [&b"abc"[..], b"defgh", b"ijklmnop", b"qr"] {
            k.push(chunk);
        }
        let out = String::from_utf8(k.into_bytes()).unwrap();
        assert!(out.starts_with("abcd\n[cargo ffi-check: 10 bytes of output dropped here; the first and last 4 bytes are kept]\n"), "{out}");
        assert!(out.ends_with("\nopqr"), "{out}");
    }

    #[test]
    fn a_stream_without_end_stays_bounded() {
        let mut k = Kept::new(1 << 20);
        let chunk = [b'x'; 8192];
        for _ in 0..10_000 {
            k.push(&chunk);
        }
        assert_eq!(k.head.len() + k.tail.len(), 1 << 20);
        assert_eq!(k.dropped, 10_000 * 8192 - (1 << 20));
    }
}
