//! Collecting a tracee's stdout and stderr completely, on background threads.

use std::fs::File;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One output stream being read to its end.
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
    _thread: JoinHandle<()>,
}

impl Capture {
    /// Starts reading `file` until EOF.
    pub fn start(mut file: File, name: &str) -> Capture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&buf);
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
                            .extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            })
            .expect("spawning an output reader thread");
        Capture {
            buf,
            done,
            _thread: thread,
        }
    }

    /// Everything read, after waiting until `deadline` at most for EOF (a
    /// process outside the traced tree might still hold the pipe open).
    pub fn finish(self, deadline: Instant) -> Vec<u8> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = self.done.recv_timeout(wait.max(Duration::from_millis(1)));
        let out = std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}
