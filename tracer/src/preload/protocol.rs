//! What the supervisor and the preloaded guard allocator agree on, mirroring
//! `preload/guard.h` (see `preload/README.md`): where the metadata table
//! is, its layout, the error records the allocator traps with, and the
//! environment variables that steer it. A unit test checks each against the
//! C header.

/// `GUARD_MAGIC`: the header is initialised.
pub const GUARD_MAGIC: u64 = 0x3164_7261_7567_63ff;
/// `GUARD_VERSION`.
pub const GUARD_VERSION: u32 = 1;
/// `GUARD_ERROR_MAGIC`: an error record.
pub const GUARD_ERROR_MAGIC: u64 = 0x726f_7272_6567_6666;
/// Where the header is in every process.
pub const GUARD_HEADER_ADDR: u64 = 0x6000_0000_0000;
/// Offset of the page index (u32 per arena page: slot + 1, or 0).
pub const GUARD_INDEX_OFFSET: u64 = 4096;
/// Size of the arena.
pub const GUARD_ARENA_SIZE: u64 = 64 << 30;
/// Offset of the slot array.
pub const GUARD_SLOTS_OFFSET: u64 = GUARD_INDEX_OFFSET + (GUARD_ARENA_SIZE / 4096) * 4;
/// Return addresses kept per allocation and per free.
pub const GUARD_FRAMES: usize = 8;

/// `struct guard_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    /// `GUARD_MAGIC` once initialised.
    pub magic: u64,
    /// `GUARD_VERSION`.
    pub version: u32,
    /// `size_of::<Slot>()`.
    pub slot_size: u32,
    /// First arena address.
    pub arena_start: u64,
    /// End of the arena.
    pub arena_end: u64,
    /// First never-used arena address.
    pub next: u64,
    /// The seed.
    pub seed: u64,
    /// Most live guarded allocations.
    pub budget: u64,
    /// Every allocation request.
    pub allocations: u64,
    /// Of which guarded.
    pub guarded: u64,
    /// Guarded and not yet freed.
    pub live: u64,
    /// Guarded frees.
    pub frees: u64,
    /// Slots used.
    pub slot_count: u64,
}

/// `enum guard_state`: live.
pub const SLOT_LIVE: u32 = 1;
/// `enum guard_state`: freed.
pub const SLOT_FREED: u32 = 2;

/// `struct guard_slot`: one guarded allocation.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// First page of the slot (guard included).
    pub start: u64,
    /// Pages, guard included.
    pub pages: u64,
    /// The pointer handed out.
    pub user: u64,
    /// Bytes requested.
    pub size: u64,
    /// Alignment used.
    pub align: u64,
    /// `SLOT_LIVE` or `SLOT_FREED`.
    pub state: u32,
    /// 1 if the guard page is before the data.
    pub underflow: u32,
    /// Thread that allocated it.
    pub alloc_tid: i32,
    /// Thread that freed it.
    pub free_tid: i32,
    /// Allocation call site, innermost first, 0-terminated.
    pub alloc_pcs: [u64; GUARD_FRAMES],
    /// Free call site.
    pub free_pcs: [u64; GUARD_FRAMES],
}

/// `enum guard_error_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// free of a freed pointer.
    DoubleFree,
    /// free of a pointer the allocator did not hand out.
    InvalidFree,
    /// realloc of a freed pointer.
    ReallocFreed,
    /// The bytes between the end of an allocation and its guard were changed.
    SlackCorrupted,
}

impl ErrorKind {
    /// From the record's `kind` field.
    pub fn from_raw(kind: u32) -> Option<ErrorKind> {
        Some(match kind {
            1 => ErrorKind::DoubleFree,
            2 => ErrorKind::InvalidFree,
            3 => ErrorKind::ReallocFreed,
            4 => ErrorKind::SlackCorrupted,
            _ => return None,
        })
    }
}

/// `struct guard_error`, on the stack of the thread that hit the error.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRecord {
    /// `GUARD_ERROR_MAGIC`.
    pub magic: u64,
    /// `enum guard_error_kind`.
    pub kind: u32,
    /// Unused.
    pub reserved: u32,
    /// The pointer passed to free/realloc.
    pub ptr: u64,
    /// Its slot, or -1.
    pub slot: i64,
}

/// The environment variables the supervisor sets in every test process
/// to steer the guard allocator (`GUARD_ENV_*` in `guard.h`). Whatever the
/// user's environment holds under these names is replaced, never inherited.
pub mod env {
    /// The seed (decimal): placement decisions derive from it. Tests may
    /// read it too.
    pub const SEED: &str = "FFI_CHECK_SEED";
    /// `after` or `before` forces the side of every guard page; unset: seeded.
    pub const GUARD_SIDE: &str = "FFI_CHECK_GUARD_SIDE";
    /// Set: a supervisor handles the allocator's traps (otherwise it prints
    /// the error and aborts).
    pub const SUPERVISED: &str = "FFI_CHECK_SUPERVISED";
    /// `1`: a libtest harness whose main thread only runs the harness; its
    /// allocations go to glibc. The allocator removes it from its own
    /// environment, so programs the test executes do not see it.
    pub const HARNESS_MAIN: &str = "FFI_CHECK_HARNESS_MAIN";
    /// `off`: the allocator leaves every allocation to glibc (the library
    /// is still preloaded, for the seeded schedule).
    pub const GUARD: &str = "FFI_CHECK_GUARD";
    /// Every variable above, and the schedule's.
    pub const ALL: [&str; 6] = [
        SEED,
        GUARD_SIDE,
        SUPERVISED,
        HARNESS_MAIN,
        GUARD,
        super::schedule::ENV_PATH,
    ];
}

/// The seeded schedule's shared region (`preload/schedule.h`): one file
/// per run, mapped by the supervisor and every process of the test.
pub mod schedule {
    /// `SCHED_MAGIC`: the header is written.
    pub const MAGIC: u64 = 0x6863_732d_6366_666c;
    /// `SCHED_VERSION`.
    pub const VERSION: u32 = 2;
    /// `SCHED_ENV_PATH`: the variable naming the region's file.
    pub const ENV_PATH: &str = "FFI_CHECK_SCHEDULE";
    /// `SCHED_THREADS`: slots of the thread table.
    pub const THREADS: usize = 8192;
    /// `SCHED_JOURNAL`: entries of the journal ring.
    pub const JOURNAL: usize = 1024;
    /// `SCHED_SLOT_FREE`: a slot never used.
    pub const SLOT_FREE: i32 = 0;
    /// `SCHED_SLOT_GONE`: a slot whose thread is gone (probing goes on).
    pub const SLOT_GONE: i32 = -1;
    /// `SCHED_UNCOUNTED`.
    pub const UNCOUNTED: u32 = 0;
    /// `SCHED_ACTIVE`: counted in `active`.
    pub const ACTIVE: u32 = 1;
    /// `SCHED_WAITING`: in a call that may wait for another thread.
    pub const WAITING: u32 = 2;
    /// `SCHED_KIND_SYSCALL`: a journal entry for system call `nr`.
    pub const KIND_SYSCALL: u32 = 0;
    /// `SCHED_KIND_CALL`: a journal entry for a pthread function.
    pub const KIND_CALL: u32 = 1;
    /// `SCHED_KIND_EVENT`: a journal entry the supervisor wrote, in `text`.
    pub const KIND_EVENT: u32 = 2;

    /// `struct sched_thread`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Thread {
        /// `SLOT_FREE`, `SLOT_GONE`, or the thread.
        pub tid: i32,
        /// `UNCOUNTED`, `ACTIVE` or `WAITING`.
        pub state: u32,
        /// Its identity across runs.
        pub logical: u64,
        /// The nth thread or process of the run.
        pub ordinal: u64,
    }

    /// `struct sched_event`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Event {
        /// Index + 1 once complete.
        pub seq: u64,
        /// `CLOCK_MONOTONIC`, nanoseconds.
        pub at_ns: u64,
        /// Process.
        pub pid: i32,
        /// Thread.
        pub tid: i32,
        /// `KIND_*`.
        pub kind: u32,
        /// Unused.
        pub pad: u32,
        /// The system call, or the pthread function (`enum sched_call`).
        pub nr: i64,
        /// Its arguments.
        pub args: [u64; 6],
        /// How long the schedule held the thread here.
        pub held_ns: u64,
        /// `KIND_EVENT`: what happened, NUL-padded.
        pub text: [u8; 24],
    }

    /// `struct sched_shared`, up to the tables.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Header {
        /// `MAGIC` once written.
        pub magic: u64,
        /// `VERSION`.
        pub version: u32,
        /// `size_of::<Shared>()`.
        pub size: u32,
        /// The seed mixed with the test's name.
        pub key: u64,
        /// Per mille of calls held on entry.
        pub entry_pm: u32,
        /// Per mille of waiting calls held on return.
        pub exit_pm: u32,
        /// The longest single hold.
        pub max_delay_ns: u64,
        /// The thread held at each of its first events ...
        pub starve_ordinal: u64,
        /// ... for this many (0: none).
        pub starve_events: u64,
        /// A call this soon after another thread's goes after it.
        pub serialize_ns: u64,
        /// `CLOCK_MONOTONIC` when the run started.
        pub start_ns: u64,
        /// Holds allowed from the start.
        pub budget_base_ns: u64,
        /// Holds allowed at most.
        pub budget_cap_ns: u64,
        /// Plus this per mille of the run's own time.
        pub budget_pm: u32,
        /// Unused.
        pub pad: u32,
        /// Charged for each hold on top of its length (what it costs the
        /// threads it delays: their sleep and wake-up).
        pub hold_cost_ns: u64,
        /// Atomic: charged to the budget so far.
        pub spent_ns: u64,
        /// Atomic: held so far.
        pub held_ns: u64,
        /// Atomic: when a thread last went on.
        pub last_release_ns: u64,
        /// Atomic: which.
        pub last_release_tid: i64,
        /// Atomic: threads in state `ACTIVE`.
        pub active: i64,
        /// Atomic: journal entries appended so far.
        pub journal_next: u64,
    }

    /// `struct sched_shared`.
    #[repr(C)]
    pub struct Shared {
        /// The header.
        pub header: Header,
        /// The thread table.
        pub threads: [Thread; THREADS],
        /// The journal ring.
        pub journal: [Event; JOURNAL],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_c_header() {
        assert_eq!(std::mem::size_of::<Header>(), 12 * 8);
        assert_eq!(
            std::mem::size_of::<Slot>(),
            5 * 8 + 4 * 4 + 2 * 8 * GUARD_FRAMES
        );
        assert_eq!(std::mem::size_of::<ErrorRecord>(), 32);
        let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/preload/guard.h"))
            .unwrap();
        assert!(h.contains("#define GUARD_HEADER_ADDR 0x600000000000UL"));
        assert!(h.contains("#define GUARD_FRAMES 8"));
        assert!(h.contains("#define GUARD_ARENA_SIZE (64UL << 30)"));
        assert!(h.contains("#define GUARD_VERSION 1u"));
        for (name, value) in [
            ("SEED", env::SEED),
            ("GUARD_SIDE", env::GUARD_SIDE),
            ("SUPERVISED", env::SUPERVISED),
            ("HARNESS_MAIN", env::HARNESS_MAIN),
        ] {
            let define = format!("#define GUARD_ENV_{name} \"{value}\"");
            assert!(h.contains(&define), "guard.h lacks {define}");
        }
        assert!(h.contains("#define GUARD_ENV_GUARD \"FFI_CHECK_GUARD\""));
    }

    /// The schedule's region as the C compiler lays it out, from a program
    /// built against `schedule.h`; `None` without a C compiler.
    fn c_layout() -> Option<Vec<u64>> {
        let dir = std::env::temp_dir().join(format!("ffc-sched-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let src = dir.join("layout.c");
        std::fs::write(
            &src,
            r#"#include <stddef.h>
#include <stdio.h>
#include "schedule.h"
int main(void) {
    printf("%zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct sched_shared),
           sizeof(struct sched_thread), sizeof(struct sched_event), offsetof(struct sched_shared, key),
           offsetof(struct sched_shared, spent_ns), offsetof(struct sched_shared, held_ns),
           offsetof(struct sched_shared, active),
           offsetof(struct sched_shared, threads), offsetof(struct sched_shared, journal),
           offsetof(struct sched_event, held_ns), offsetof(struct sched_event, text));
    return 0;
}
"#,
        )
        .ok()?;
        let exe = dir.join("layout");
        let include = concat!(env!("CARGO_MANIFEST_DIR"), "/preload");
        let built = std::process::Command::new("cc")
            .arg("-I")
            .arg(include)
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .ok()?;
        assert!(built.success());
        let out = std::process::Command::new(&exe).output().ok()?;
        let _ = std::fs::remove_dir_all(&dir);
        Some(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_schedule_region_matches_the_c_header() {
        use schedule::*;
        use std::mem::{offset_of, size_of};
        let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/preload/schedule.h"))
            .unwrap();
        assert!(h.contains("#define SCHED_ENV_PATH \"FFI_CHECK_SCHEDULE\""));
        assert!(h.contains("#define SCHED_VERSION 2u"));
        assert!(h.contains("#define SCHED_MAGIC 0x6863732d6366666cULL"));
        let Some(c) = c_layout() else {
            eprintln!("skipping the layout comparison: no C compiler");
            return;
        };
        let rust = [
            size_of::<Shared>(),
            size_of::<Thread>(),
            size_of::<Event>(),
            offset_of!(Header, key),
            offset_of!(Header, spent_ns),
            offset_of!(Header, held_ns),
            offset_of!(Header, active),
            offset_of!(Shared, threads),
            offset_of!(Shared, journal),
            offset_of!(Event, held_ns),
            offset_of!(Event, text),
        ];
        assert_eq!(c, rust.map(|n| n as u64));
    }
}
