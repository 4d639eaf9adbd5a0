//! Which threads and processes the run has, and what ptrace says about
//! their lives: creation (clone, fork, vfork), exec, exit and group-stops.

use super::{resume, Supervisor};
use crate::linux::fault::guard_table;
use crate::linux::hang::detect::Seen;
use crate::linux::process::proc;
use crate::linux::process::ptrace::{self, Event};
use crate::linux::schedule::decisions;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// What the supervisor knows about one traced thread.
#[derive(Default)]
pub struct Task {
    /// The process it belongs to.
    pub pid: i32,
    /// Its identity across runs: derived from its creator's and the order
    /// of creation, not from the tid (see [`decisions::logical_child`]).
    pub logical: u64,
    /// Threads and processes it has created.
    pub children: u64,
    /// The nth thread or process created in this run (the first is 0).
    pub ordinal: u64,
    /// Signals held or let through for it so far (the schedule's signal
    /// decisions are keyed on it).
    pub events: u64,
    /// Stopped by SIGSTOP and friends and kept so (`PTRACE_LISTEN`).
    pub group_stopped: bool,
    /// When it last stopped, in the run's order of stops.
    last_stop: u64,
    /// Its creator's creation event was seen: its identity is known.
    known: bool,
    /// Its first stop came before its creator's event: it waits for it.
    waiting_since: Option<Instant>,
    /// It has had its first stop.
    started: bool,
}

/// How long a new thread's first stop waits for its creator's event at
/// most (it normally comes at once).
const CREATOR_WAIT: Duration = Duration::from_millis(20);

/// Every traced thread of the run, by tid.
pub struct Tasks {
    map: HashMap<i32, Task>,
    /// Threads and processes created so far.
    created: u64,
    /// Stops so far (each thread's `last_stop` is one of these).
    stops: u64,
}

impl Tasks {
    /// The run's first thread, `main`, alone.
    pub fn new(main: i32) -> Tasks {
        let mut map = HashMap::new();
        map.insert(
            main,
            Task {
                pid: main,
                known: true,
                ..Task::default()
            },
        );
        Tasks {
            map,
            created: 0,
            stops: 0,
        }
    }

    /// The process of `tid`, registering threads not seen yet (a new
    /// thread's first stop can arrive before its parent's clone event).
    pub fn pid_of(&mut self, tid: i32) -> i32 {
        if let Some(t) = self.map.get(&tid) {
            return t.pid;
        }
        let pid = proc::tgid(tid).unwrap_or(tid);
        self.map.insert(
            tid,
            Task {
                pid,
                logical: crate::hash::splitmix64(tid as u64),
                ..Task::default()
            },
        );
        pid
    }

    /// The thread `tid`, if known.
    pub fn get(&self, tid: i32) -> Option<&Task> {
        self.map.get(&tid)
    }

    /// The thread `tid`, if known.
    pub fn get_mut(&mut self, tid: i32) -> Option<&mut Task> {
        self.map.get_mut(&tid)
    }

    /// Whether `tid` is known.
    pub fn contains(&self, tid: i32) -> bool {
        self.map.contains_key(&tid)
    }

    /// Forgets a thread that is gone.
    pub fn remove(&mut self, tid: i32) -> Option<Task> {
        self.map.remove(&tid)
    }

    /// Whether no thread is left.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every thread, in no order.
    pub fn tids(&self) -> Vec<i32> {
        self.map.keys().copied().collect()
    }

    /// Every process.
    pub fn pids(&self) -> HashSet<i32> {
        self.map.values().map(|t| t.pid).collect()
    }

    /// Thread `tid` stopped: it is the most recently active one, and what
    /// was known about it being blocked is stale.
    pub fn stopped(&mut self, tid: i32) {
        self.stops += 1;
        if let Some(t) = self.map.get_mut(&tid) {
            t.last_stop = self.stops;
            t.group_stopped = false;
        }
    }

    /// Every thread as hang detection sees it, the most recently active
    /// first (they are the likeliest to be running).
    pub fn seen(&self) -> Vec<Seen> {
        let mut all: Vec<(u64, Seen)> = self
            .map
            .iter()
            .map(|(&tid, t)| {
                let seen = Seen {
                    pid: t.pid,
                    tid,
                    group_stopped: t.group_stopped,
                };
                (t.last_stop, seen)
            })
            .collect();
        all.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// A stop of `tid` that may be a new thread's first: true if its
    /// creator's event has not come yet, and it is to wait for it.
    pub fn await_creator(&mut self, tid: i32) -> bool {
        match self.map.get_mut(&tid) {
            Some(t) if !t.known && !t.started => {
                t.started = true;
                t.waiting_since = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    /// Who `tid` is to the schedule, and the number of its next signal.
    pub fn next_event(&mut self, tid: i32) -> (decisions::Thread, u64) {
        match self.map.get_mut(&tid) {
            Some(t) => {
                t.events += 1;
                let who = decisions::Thread {
                    logical: t.logical,
                    ordinal: t.ordinal,
                };
                (who, t.events - 1)
            }
            None => (
                decisions::Thread {
                    logical: crate::hash::splitmix64(tid as u64),
                    ordinal: u64::MAX,
                },
                0,
            ),
        }
    }

    /// Registers `new`, created by `parent` of process `parent_pid`, as a
    /// thread (`thread`) or a process of its own; returns its logical
    /// identity and ordinal, and whether its first stop is waiting for this.
    fn created(
        &mut self,
        parent: i32,
        parent_pid: i32,
        new: i32,
        thread: bool,
    ) -> (u64, u64, bool) {
        let new_pid = if thread {
            proc::tgid(new).unwrap_or(parent_pid)
        } else {
            new
        };
        let logical = match self.map.get_mut(&parent) {
            Some(p) => {
                p.children += 1;
                decisions::logical_child(p.logical, p.children - 1)
            }
            None => crate::hash::splitmix64(new as u64),
        };
        // Its first stop may have come first and registered it.
        self.created += 1;
        let task = self.map.entry(new).or_default();
        task.pid = new_pid;
        task.logical = logical;
        task.ordinal = self.created;
        task.known = true;
        let waiting = task.waiting_since.take().is_some();
        (logical, self.created, waiting)
    }

    /// New threads whose first stop has waited for their creator's event
    /// longer than it should: they go on with the identity they have
    /// (returned with each: tid, logical identity, ordinal).
    pub fn overdue(&mut self, now: Instant) -> Vec<(i32, u64, u64)> {
        let mut late = Vec::new();
        for (&tid, t) in self.map.iter_mut() {
            if t.waiting_since
                .is_some_and(|at| now.duration_since(at) > CREATOR_WAIT)
            {
                t.waiting_since = None;
                late.push((tid, t.logical, t.ordinal));
            }
        }
        late
    }
}

impl Supervisor {
    /// A ptrace event stop of `tid`.
    pub(super) fn on_event(&mut self, tid: i32, event: Event) {
        let pid = self.tasks.pid_of(tid);
        match event {
            Event::Clone | Event::Fork | Event::Vfork => {
                if let Ok(new) = ptrace::geteventmsg(tid) {
                    let new = new as i32;
                    let thread = event == Event::Clone;
                    let (logical, ordinal, waiting) = self.tasks.created(tid, pid, new, thread);
                    if !thread {
                        if let Some(h) = guard_table::header(pid) {
                            self.inherited.insert(new, (h.allocations, h.guarded));
                        }
                    }
                    if let Some(h) = &self.holds {
                        h.region.register(new, logical, ordinal);
                    }
                    self.preempt_soon();
                    self.record(pid, tid, || {
                        let what = if thread { "thread" } else { "process" };
                        format!("started {what} {new}")
                    });
                    if waiting {
                        resume(new, 0);
                    }
                }
                resume(tid, 0);
            }
            Event::Exec => {
                // A non-leader thread that execs takes over the leader's tid;
                // its old tid is gone without an exit report.
                if let Ok(former) = ptrace::geteventmsg(tid) {
                    if former as i32 != tid {
                        self.tasks.remove(former as i32);
                    }
                }
                self.faults.forget_process(pid);
                self.exited_stacks.remove(&pid);
                self.inherited.remove(&pid);
                self.timers.exec(pid);
                resume(tid, 0);
            }
            Event::Seccomp => self.on_trapped_syscall(pid, tid),
            Event::Exit => {
                self.record(pid, tid, || "thread exits".into());
                if let Some(h) = &self.holds {
                    h.region.exited(tid);
                }
                self.settle_faults(pid, tid);
                if tid != pid && self.leaks_in.is_some() {
                    if let Ok(regs) = ptrace::getregs(tid) {
                        self.exited_stacks
                            .entry(pid)
                            .or_default()
                            .push((tid, regs.rsp));
                    }
                }
                // The process's memory is still there: keep its counters.
                if tid == pid {
                    self.count_allocations(pid);
                    self.exited_stacks.remove(&pid);
                    self.timers.exit(pid);
                }
                resume(tid, 0);
            }
            // Group-stop (SIGSTOP and friends): stay stopped, as natively.
            Event::Stop {
                signal: libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU,
            } => {
                if let Some(t) = self.tasks.get_mut(tid) {
                    t.group_stopped = true;
                }
                self.record(pid, tid, || "stopped".into());
                let _ = ptrace::listen(tid);
            }
            // Stopped for a preemption point: held.
            Event::Stop { .. } if self.preempted(pid, tid) => {}
            // A new task's first stop: under the schedule, it runs once its
            // creator's event has registered who it is.
            Event::Stop { .. } if self.holds.is_some() && self.tasks.await_creator(tid) => {}
            // A new task's first stop, or our own PTRACE_INTERRUPT.
            Event::Stop { .. } | Event::Other(_) => resume(tid, 0),
        }
    }
}
