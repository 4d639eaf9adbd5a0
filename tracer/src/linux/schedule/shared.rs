//! The supervisor's end of the seeded schedule's shared region
//! (`preload/protocol/schedule.h`, mirrored in [`crate::preload::protocol::schedule`]):
//! a file, one per run, that every process of the test maps to make the
//! schedule's decisions in-process. The supervisor writes the profile and
//! the budget, registers each thread's logical identity before it runs,
//! counts threads out as they exit, and reads the journal for findings.

mod aim;

use crate::linux::schedule::decisions::{Decider, MIN_DELAY_US};
use crate::linux::syscalls::Syscall;
use crate::preload::protocol::schedule::{self as layout, Event, Header, Shared, Thread};
use crate::SchedEvent;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// How much the schedule may hold a run's threads: `base` from the start,
/// plus `per_mille` of the run's own time so far, up to `cap`; each hold is
/// charged its length plus `hold_cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Allowed from the start, for very short tests.
    pub base: Duration,
    /// Per mille of the test's own time (its elapsed time less the charges).
    pub per_mille: u32,
    /// Allowed at most.
    pub cap: Duration,
    /// Charged for each hold on top of its length: what a hold costs the
    /// threads it delays beyond the hold itself (they go to sleep and must
    /// be woken), measured on channel round trips.
    pub hold_cost: Duration,
}

/// Which pot of the budget a hold is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pot {
    /// Holds at calls (the processes') and of signals: the budget.
    Calls,
    /// Preemption points: a pot of their own (the same base, a quarter of
    /// the share of the test's time and of the cap), so that holds whose
    /// moment follows the clock never take budget from the seeded
    /// decisions at calls, which then hold the same calls for the same time
    /// from run to run.
    Preemption,
}

/// The shortest hold worth making (`MIN_HOLD_NS` in `preload/schedule/core.c`).
const MIN_HOLD_NS: u64 = MIN_DELAY_US * 1000;

/// The start of a region file's name, before the creator's pid.
const PREFIX: &str = "schedule-";

/// Removes the region files in `dir` of processes that are gone (a
/// supervisor killed before it could remove its own).
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (the clock `Instant` reads).
fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain data the call fills.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: t is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The run's shared region, mapped; its file is removed when dropped.
pub struct Region {
    map: *mut Shared,
    path: PathBuf,
    /// The run's start, in `CLOCK_MONOTONIC` nanoseconds.
    start_ns: u64,
}

// SAFETY: the mapping is shared memory owned by the Region; every access
// that other processes race with goes through atomics.
unsafe impl Send for Region {}

impl Region {
    /// Creates the region in `dir` (a private directory) for a run that
    /// started now, with `decider`'s profile and `budget`.
    pub fn create(dir: &Path, decider: &Decider, budget: Budget) -> io::Result<Region> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            remove_stale(dir);
        }
        let path = dir.join(format!("{PREFIX}{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let size = std::mem::size_of::<Shared>();
        file.set_len(size as u64)?;
        // SAFETY: maps the whole file, just sized, shared read-write; the
        // mapping stays valid after the descriptor is closed.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let region = Region {
            map: map.cast(),
            path,
            start_ns: monotonic_ns(),
        };
        let p = decider.profile();
        let header = Header {
            magic: 0,
            version: layout::VERSION,
            size: size as u32,
            key: decider.key(),
            entry_pm: p.entry,
            exit_pm: p.exit,
            max_delay_ns: p.max_delay_us * 1000,
            starve_ordinal: p.starve.map_or(0, |s| s.0),
            starve_events: p.starve.map_or(0, |s| s.1),
            serialize_ns: p.serialize_us * 1000,
            start_ns: region.start_ns,
            budget_base_ns: budget.base.as_nanos() as u64,
            budget_cap_ns: budget.cap.as_nanos() as u64,
            budget_pm: budget.per_mille,
            hold_cost_ns: budget.hold_cost.as_nanos() as u64,
            ..Header::default()
        };
        // SAFETY: the mapping is ours and large enough; nobody maps the
        // file before the path is handed out, after this.
        unsafe { std::ptr::write(&mut (*region.map).header, header) };
        region
            .u64_at(|h| &mut h.header.magic)
            .store(layout::MAGIC, Ordering::Release);
        Ok(region)
    }

    /// The run starts now: the budget's clock (here and in the mapping)
    /// restarts, so that the supervisor's work before the test process
    /// exists (reading the test binary's symbols, building its
    /// environment) is not counted as the test's own time, which would let
    /// the schedule hold the test for longer than its budget says.
    pub fn restart(&mut self) {
        self.start_ns = monotonic_ns();
        self.u64_at(|h| &mut h.header.start_ns)
            .store(self.start_ns, Ordering::Release);
    }

    /// The region's file, for the processes to map.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An atomic view of a `u64` field of the mapping.
    fn u64_at(&self, field: impl FnOnce(&mut Shared) -> &mut u64) -> &AtomicU64 {
        // SAFETY: the field lies in the live mapping, is 8-aligned (repr C),
        // and every process accesses it atomically.
        unsafe { AtomicU64::from_ptr(field(&mut *self.map)) }
    }

    /// An atomic view of an `i64` field of the mapping.
    fn i64_at(&self, field: impl FnOnce(&mut Shared) -> &mut i64) -> &AtomicI64 {
        // SAFETY: as in `u64_at`.
        unsafe { AtomicI64::from_ptr(field(&mut *self.map)) }
    }

    /// Thread table slot `i`: atomic views of its tid and state, and the
    /// slot itself.
    fn slot(&self, i: usize) -> (&AtomicI32, &AtomicU32, *mut Thread) {
        // SAFETY: i < THREADS: the slot lies in the live mapping; its tid and
        // state are 4-aligned and accessed atomically by every process.
        unsafe {
            let slot: *mut Thread = &mut (*self.map).threads[i];
            (
                AtomicI32::from_ptr(&mut (*slot).tid),
                AtomicU32::from_ptr(&mut (*slot).state),
                slot,
            )
        }
    }

    /// The slot of `tid`, or where it would go.
    fn find(&self, tid: i32) -> Option<usize> {
        let start = crate::hash::splitmix64(tid as u64) as usize % layout::THREADS;
        let mut free = None;
        for n in 0..layout::THREADS {
            let i = (start + n) % layout::THREADS;
            match self.slot(i).0.load(Ordering::Acquire) {
                t if t == tid => return Some(i),
                layout::SLOT_FREE => return free.or(Some(i)),
                layout::SLOT_GONE if free.is_none() => free = Some(i),
                _ => {}
            }
        }
        free
    }

    /// Registers thread `tid` (running, so it can act) with its identity
    /// across runs and its creation ordinal, before it runs test code.
    pub fn register(&self, tid: i32, logical: u64, ordinal: u64) {
        let Some(i) = self.find(tid) else {
            return;
        };
        let (t, state, slot) = self.slot(i);
        // SAFETY: the slot is ours to fill until its tid is published below.
        unsafe {
            (*slot).logical = logical;
            (*slot).ordinal = ordinal;
        }
        t.store(tid, Ordering::Release);
        if state
            .compare_exchange(
                layout::UNCOUNTED,
                layout::ACTIVE,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.i64_at(|s| &mut s.header.active)
                .fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Thread `tid` is exiting: it no longer counts.
    pub fn exited(&self, tid: i32) {
        let Some(i) = self.find(tid) else {
            return;
        };
        let (t, state, _) = self.slot(i);
        if t.load(Ordering::Acquire) != tid {
            return;
        }
        if state.swap(layout::UNCOUNTED, Ordering::AcqRel) == layout::ACTIVE {
            self.i64_at(|s| &mut s.header.active)
                .fetch_sub(1, Ordering::AcqRel);
        }
        t.store(layout::SLOT_GONE, Ordering::Release);
    }

    /// Whether a thread other than `tid` can act (is counted active).
    pub fn others_can_act(&self, tid: i32) -> bool {
        let active = self
            .i64_at(|s| &mut s.header.active)
            .load(Ordering::Acquire);
        active - i64::from(self.is_active(tid)) > 0
    }

    /// Whether thread `tid` is counted as able to act (`ACTIVE`).
    fn is_active(&self, tid: i32) -> bool {
        self.find(tid).is_some_and(|i| {
            let (t, state, _) = self.slot(i);
            t.load(Ordering::Acquire) == tid && state.load(Ordering::Acquire) == layout::ACTIVE
        })
    }

    /// How much of `want` the budget allows now, as the processes reckon it
    /// (`spend` in `preload/schedule/core.c`): charged, or `None` when it is
    /// spent.
    pub fn spend(&self, want: Duration) -> Option<Duration> {
        self.spend_in(Pot::Calls, want)
    }

    /// As [`Region::spend`], from `pot`.
    pub fn spend_in(&self, pot: Pot, want: Duration) -> Option<Duration> {
        // SAFETY: the header's plain fields are written once, before any
        // process maps the region.
        let h = unsafe { &(*self.map).header };
        let (base, cap, per_mille, cost) = (
            h.budget_base_ns,
            h.budget_cap_ns,
            h.budget_pm,
            h.hold_cost_ns,
        );
        let (spent, share) = match pot {
            Pot::Calls => (self.u64_at(|s| &mut s.header.spent_ns), 1),
            Pot::Preemption => (self.u64_at(|s| &mut s.header.preempt_spent_ns), 4),
        };
        let now = monotonic_ns();
        let want = want.as_nanos() as u64;
        let mut current = spent.load(Ordering::Acquire);
        loop {
            let elapsed = now.saturating_sub(self.start_ns);
            let held = self
                .u64_at(|s| &mut s.header.held_ns)
                .load(Ordering::Acquire);
            let own = elapsed.saturating_sub(held);
            let allowed = (base + own / 1000 * u64::from(per_mille) / share).min(cap / share);
            let left = allowed
                .checked_sub(current + cost)
                .filter(|&l| l >= MIN_HOLD_NS)?;
            let grant = want.min(left);
            let charged = current + grant + cost;
            match spent.compare_exchange(current, charged, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.u64_at(|s| &mut s.header.held_ns)
                        .fetch_add(grant, Ordering::AcqRel);
                    return Some(Duration::from_nanos(grant));
                }
                Err(now_spent) => current = now_spent,
            }
        }
    }

    /// How long the schedule has held the run's threads so far.
    pub fn held(&self) -> Duration {
        Duration::from_nanos(
            self.u64_at(|s| &mut s.header.held_ns)
                .load(Ordering::Acquire),
        )
    }

    /// How much of the budget the schedule has spent so far (the holds and
    /// their costs, both pots).
    pub fn spent(&self) -> Duration {
        let calls = self
            .u64_at(|s| &mut s.header.spent_ns)
            .load(Ordering::Acquire);
        let preemption = self
            .u64_at(|s| &mut s.header.preempt_spent_ns)
            .load(Ordering::Acquire);
        Duration::from_nanos(calls + preemption)
    }

    /// Appends an event the supervisor saw (a signal, a thread's start or
    /// exit) to the journal; returns its index, for [`Region::held`].
    pub fn record(&self, pid: i32, tid: i32, what: &str) -> u64 {
        let i = self
            .u64_at(|s| &mut s.header.journal_next)
            .fetch_add(1, Ordering::AcqRel);
        let mut text = [0u8; 24];
        let bytes = what.as_bytes();
        let n = bytes.len().min(text.len());
        text[..n].copy_from_slice(&bytes[..n]);
        let event = Event {
            seq: 0,
            at_ns: monotonic_ns(),
            pid,
            tid,
            kind: layout::KIND_EVENT,
            text,
            ..Event::default()
        };
        let at = (i % layout::JOURNAL as u64) as usize;
        // SAFETY: the entry lies in the live mapping; its `seq` (published
        // last) tells readers when it is whole.
        unsafe {
            let e: *mut Event = &mut (*self.map).journal[at];
            AtomicU64::from_ptr(&mut (*e).seq).store(0, Ordering::Release);
            std::ptr::write(e, event);
            AtomicU64::from_ptr(&mut (*e).seq).store(i + 1, Ordering::Release);
        }
        i
    }

    /// Notes that the supervisor held the thread of event `index` for `d`.
    pub fn note_held(&self, index: u64, d: Duration) {
        let at = (index % layout::JOURNAL as u64) as usize;
        // SAFETY: the entry lies in the live mapping; a stale write to a
        // reused entry only misstates one journal line.
        unsafe { (*self.map).journal[at].held_ns = d.as_nanos() as u64 };
    }

    /// The last `n` events of the journal, oldest first.
    pub fn recent(&self, n: usize) -> Vec<SchedEvent> {
        let next = self
            .u64_at(|s| &mut s.header.journal_next)
            .load(Ordering::Acquire);
        let first = next.saturating_sub(n as u64);
        (first..next)
            .filter_map(|i| {
                let at = (i % layout::JOURNAL as u64) as usize;
                // SAFETY: the entry lies in the live mapping; it is copied
                // and used only if its `seq` says it is the whole entry i.
                let e = unsafe {
                    let p: *mut Event = &mut (*self.map).journal[at];
                    if AtomicU64::from_ptr(&mut (*p).seq).load(Ordering::Acquire) != i + 1 {
                        return None;
                    }
                    std::ptr::read(p)
                };
                Some(self.event(&e))
            })
            .collect()
    }

    /// A journal entry as a finding shows it.
    fn event(&self, e: &Event) -> SchedEvent {
        let what = match e.kind {
            layout::KIND_EVENT => {
                let end = e.text.iter().position(|&b| b == 0).unwrap_or(e.text.len());
                String::from_utf8_lossy(&e.text[..end]).into_owned()
            }
            layout::KIND_CALL => call_name(e.nr, &e.args),
            _ => Syscall {
                nr: e.nr,
                args: e.args,
            }
            .describe(),
        };
        SchedEvent {
            at_us: e.at_ns.saturating_sub(self.start_ns) / 1000,
            pid: e.pid,
            tid: e.tid,
            what,
            held_us: (e.held_ns > 0).then_some(e.held_ns / 1000),
        }
    }
}

/// A library function of the journal (`enum sched_call` in
/// `preload/protocol/schedule.h`), as text.
fn call_name(nr: i64, args: &[u64; 6]) -> String {
    let (name, n) = match nr {
        0 => return "returned".into(),
        1 => ("pthread_mutex_lock", 1),
        2 => ("pthread_mutex_unlock", 1),
        3 => ("pthread_cond_wait", 2),
        4 => ("pthread_cond_signal", 1),
        5 => ("pthread_cond_broadcast", 1),
        6 => return format!("pthread_kill({:#x}, {})", args[0], args[1]),
        7 => ("thread starts", 0),
        8 => ("pthread_create", 3),
        9 => ("pthread_join", 1),
        10 => ("pthread_rwlock_rdlock", 1),
        11 => ("pthread_rwlock_wrlock", 1),
        12 => ("pthread_rwlock_unlock", 1),
        13 => ("pthread_barrier_wait", 1),
        14 => ("sem_wait", 1),
        15 => ("sem_post", 1),
        16 => ("sem_timedwait", 2),
        17 => return format!("eventfd_read({}, {:#x})", args[0], args[1]),
        18 => return format!("eventfd_write({}, {})", args[0], args[1]),
        19 => return format!("sigqueue({}, {})", args[0] as i32, args[1]),
        20 => return format!("pthread_sigqueue({:#x}, {})", args[0], args[1]),
        21 => ("sigwait", 2),
        22 => ("posix_spawn", 2),
        _ => return format!("call {nr}"),
    };
    if n == 0 {
        return name.into();
    }
    let args: Vec<String> = args[..n].iter().map(|a| format!("{a:#x}")).collect();
    format!("{name}({})", args.join(", "))
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `create`; nothing
        // borrows it past this.
        unsafe { libc::munmap(self.map.cast(), std::mem::size_of::<Shared>()) };
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private directory for this test process's regions.
    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ffc-regions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn region(budget: Budget) -> Region {
        Region::create(&dir(), &Decider::new(3, "t"), budget).unwrap()
    }

    #[test]
    fn files_of_gone_supervisors_are_removed() {
        let dir = dir().join("stale");
        std::fs::create_dir_all(&dir).unwrap();
        // Beyond any pid_max: never a live process.
        let gone = dir.join(format!("{PREFIX}4000000000-0"));
        let alive = dir.join(format!("{PREFIX}{}-99", std::process::id()));
        let other = dir.join("guard-abc.so");
        for f in [&gone, &alive, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        remove_stale(&dir);
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
    }

    const GENEROUS: Budget = Budget {
        base: Duration::from_millis(10),
        per_mille: 250,
        cap: Duration::from_secs(2),
        hold_cost: Duration::from_micros(100),
    };

    #[test]
    fn threads_are_counted_in_and_out() {
        let r = region(GENEROUS);
        assert!(!r.others_can_act(1));
        r.register(100, 7, 1);
        r.register(100, 7, 1);
        assert!(r.others_can_act(1), "another thread runs");
        assert!(!r.others_can_act(100), "only itself");
        r.register(200, 8, 2);
        assert!(r.others_can_act(100));
        r.exited(200);
        assert!(!r.others_can_act(100));
        r.exited(200);
        assert!(!r.others_can_act(100), "counted out once");
        let path = r.path().to_path_buf();
        assert!(path.exists());
        drop(r);
        assert!(!path.exists(), "the file goes with the region");
    }

    #[test]
    fn the_budget_grows_with_the_runs_own_time_up_to_its_cap() {
        let r = region(Budget {
            base: Duration::from_millis(2),
            per_mille: 500,
            cap: Duration::from_millis(30),
            hold_cost: Duration::from_micros(100),
        });
        assert_eq!(
            r.spend(Duration::from_millis(1)),
            Some(Duration::from_millis(1))
        );
        // The rest of the base (less the two holds' costs), clamped.
        let got = r.spend(Duration::from_millis(5)).unwrap();
        let rest = Duration::from_micros(800);
        assert!(got <= rest + Duration::from_micros(200), "{got:?}");
        assert_eq!(r.held(), Duration::from_millis(1) + got);
        assert_eq!(r.spent(), r.held() + Duration::from_micros(200));
        std::thread::sleep(Duration::from_millis(40));
        // 40 ms of the run's own time allow about 20 ms more.
        let more = r.spend(Duration::from_millis(100)).unwrap();
        assert!(
            more >= Duration::from_millis(15) && more <= Duration::from_millis(28),
            "{more:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let last = r.spend(Duration::from_secs(1)).unwrap_or_default();
        assert!(r.spent() <= Duration::from_millis(30), "{last:?}");
        // Nothing is granted that the cost would leave under the shortest hold.
        while r.spend(Duration::from_secs(1)).is_some() {}
        assert!(r.spent() <= Duration::from_millis(30));
        assert!(r.held() < r.spent());
    }

    #[test]
    fn the_journal_keeps_the_last_events_in_order() {
        let r = region(GENEROUS);
        for i in 0..2000 {
            r.record(1, 2, &format!("event {i}"));
        }
        let i = r.record(1, 2, "signal SIGSTOP");
        r.note_held(i, Duration::from_micros(250));
        let recent = r.recent(16);
        assert_eq!(recent.len(), 16);
        assert_eq!(recent[0].what, "event 1985");
        assert_eq!(recent[15].what, "signal SIGSTOP");
        assert_eq!(recent[15].held_us, Some(250));
        assert!(recent.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    }
}
