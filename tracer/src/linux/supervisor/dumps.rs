//! Ending a run early: a timeout, a hang or a cancellation. For a timeout
//! or a hang every thread is stopped and described (its system call, its
//! backtrace, the glibc mutex it waits for and who holds it) before the
//! tree is killed.

use super::holds::HANG_TICK;
use super::Supervisor;
use crate::linux::hang::detect::HangDetector;
use crate::linux::hang::locks;
use crate::linux::hang::waits::Census;
use crate::linux::process::proc;
use crate::linux::process::ptrace;
use crate::linux::syscalls::Syscall;
use crate::{Exit, Finding, FindingKind, ThreadState};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long to wait for threads to stop for a thread dump.
const DUMP_GRACE: Duration = Duration::from_secs(2);

/// Why the supervisor ends a run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The watchdog's deadline passed.
    Timeout,
    /// Ctrl-C.
    Cancel,
    /// Every thread waits for good.
    Hang,
}

/// Early hang detection in one run.
pub struct HangWatch {
    detector: HangDetector,
    /// When the last check ran.
    last_check: Instant,
}

impl HangWatch {
    /// Declares a hang after `grace` of total blockage; the run started at `start`.
    pub fn new(grace: Duration, start: Instant) -> HangWatch {
        HangWatch {
            detector: HangDetector::new(grace),
            last_check: start,
        }
    }
}

impl Supervisor {
    /// Looks for a hang, at most every [`HANG_TICK`]; while the schedule
    /// holds threads (`holding`) nothing is hung, and the watch starts over.
    pub(super) fn check_hang(&mut self, now: Instant, holding: bool) {
        let Some(watch) = self.hang.as_mut() else {
            return;
        };
        if holding {
            return watch.detector.reset();
        }
        if now.duration_since(watch.last_check) < HANG_TICK {
            return;
        }
        watch.last_check = now;
        let seen = self.tasks.seen();
        if !watch.detector.check(&seen, now) {
            return;
        }
        // Every thread has been blocked for the grace period: a hang if
        // only the test could wake any of them. Otherwise the timeout
        // decides, and the next look is a grace period away.
        let pids = self.tasks.pids();
        let mut census = Census::new(&pids, &self.timers, now);
        let external = seen.iter().find_map(|t| {
            let call = proc::current_syscall(t.pid, t.tid)?;
            census.wait_external(t.pid, t.tid, &call)
        });
        match external {
            None => self.stop_everything(Stop::Hang),
            Some(_) => watch.detector.reset(),
        }
    }

    /// Timeout, hang or cancellation: dump the threads (for a timeout or a
    /// hang), kill the tree.
    pub(super) fn stop_everything(&mut self, why: Stop) {
        if why == Stop::Cancel {
            self.exit = Some(Exit::Cancelled);
            return self.kill_all();
        }
        let (threads, cycle) = self.dump_threads();
        let processes = threads
            .iter()
            .map(|t| t.thread.pid)
            .collect::<HashSet<_>>()
            .len();
        let notes = cycle
            .map(|cycle| lock_cycle_note(&cycle, &threads))
            .into_iter()
            .collect();
        let (kind, message, exit) = match why {
            Stop::Hang => (
                FindingKind::Hang,
                format!(
                    "hung: all {} thread(s) in {processes} process(es) blocked in waits without a timeout, with no CPU use for {} ms",
                    threads.len(),
                    self.hang.as_ref().map_or(0, |h| h.detector.grace().as_millis())
                ),
                Exit::Hung,
            ),
            Stop::Timeout | Stop::Cancel => {
                let blocked = threads.iter().filter(|t| t.syscall.is_some()).count();
                (
                    FindingKind::Timeout,
                    format!(
                        "timed out with {} thread(s) in {processes} process(es), {blocked} blocked in a system call",
                        threads.len()
                    ),
                    Exit::TimedOut,
                )
            }
        };
        self.report(Finding {
            notes,
            threads,
            ..Finding::new(kind, message)
        });
        self.exit = Some(exit);
        self.kill_all();
    }

    /// Stops every thread and records what it was doing and where, and who
    /// holds the glibc mutexes they wait for; returns the threads and a lock
    /// cycle among them, if there is one.
    fn dump_threads(&mut self) -> (Vec<ThreadState>, Option<Vec<i32>>) {
        let mut tids = self.tasks.tids();
        tids.sort_unstable();
        // What each was blocked in, read before the interrupt disturbs it.
        let syscalls: HashMap<i32, Syscall> = tids
            .iter()
            .filter_map(|&t| {
                let pid = self.tasks.get(t)?.pid;
                Some((t, proc::current_syscall(pid, t)?))
            })
            .collect();
        // Held threads are stopped already; the rest are interrupted.
        let held: HashSet<i32> = self
            .holds
            .iter()
            .flat_map(|h| h.held.iter().map(|h| h.tid))
            .collect();
        let mut waiting: HashSet<i32> = tids
            .iter()
            .copied()
            .filter(|t| !held.contains(t))
            .filter(|&t| ptrace::interrupt(t).is_ok())
            .collect();
        let give_up = Instant::now() + DUMP_GRACE;
        while !waiting.is_empty() && Instant::now() < give_up {
            match ptrace::wait_any() {
                // Any stop will do: the thread is stopped and can be read.
                Ok(w) => {
                    waiting.remove(&w.tid());
                    if !w.is_stop() {
                        self.tasks.remove(w.tid());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => break,
            }
        }
        let mut out = Vec::new();
        let mut edges = Vec::new();
        for tid in tids {
            let Some(pid) = self.tasks.get(tid).map(|t| t.pid) else {
                continue;
            };
            let backtrace = if waiting.contains(&tid) {
                Vec::new()
            } else {
                match ptrace::getregs(tid) {
                    Ok(regs) => self.faults.analyzer().backtrace(tid, &regs),
                    Err(_) => Vec::new(),
                }
            };
            let syscall = syscalls.get(&tid);
            let mut waiting_for = None;
            if let Some(mutex) = syscall.and_then(|s| locks::waited_mutex(s, &backtrace)) {
                let owner = locks::mutex_owner(pid, mutex);
                waiting_for = Some(match owner {
                    Some(o) => {
                        edges.push((tid, o));
                        format!(
                            "the glibc mutex at {mutex:#x}, held by thread {o} \"{}\"",
                            proc::name(pid, o)
                        )
                    }
                    None => format!("the glibc mutex at {mutex:#x}"),
                });
            }
            out.push(ThreadState {
                thread: proc::info(pid, tid),
                syscall: syscall.map(|s| s.describe()),
                backtrace,
                waiting_for,
            });
        }
        (out, locks::cycle(&edges))
    }
}

/// `lock cycle: thread 12 "a" -> 13 "b" -> 12 "a" (...)`.
fn lock_cycle_note(cycle: &[i32], threads: &[ThreadState]) -> String {
    let names: Vec<String> = cycle
        .iter()
        .chain(cycle.first())
        .map(|&tid| {
            let name = threads
                .iter()
                .find(|t| t.thread.tid == tid)
                .map_or("?", |t| t.thread.name.as_str());
            format!("{tid} \"{name}\"")
        })
        .collect();
    format!(
        "lock cycle: thread {} (each waits for a mutex the next one holds)",
        names.join(" -> ")
    )
}
