//! What the supervisor and the preloaded library agree on, mirroring
//! `preload/protocol/guard.h` and `preload/protocol/schedule.h` (see `preload/README.md`):
//! where the guard allocator's metadata table is, its layout, the error
//! records the allocator traps with, the schedule's shared region, and the
//! environment variables that steer both. Unit tests check each against
//! the C headers, as the C compiler lays them out.

/// `GUARD_MAGIC`: the header is initialised.
pub const GUARD_MAGIC: u64 = 0x3264_7261_7567_63ff;
/// `GUARD_VERSION`.
pub const GUARD_VERSION: u32 = 5;
/// `GUARD_ERROR_MAGIC`: an error record.
pub const GUARD_ERROR_MAGIC: u64 = 0x726f_7272_6567_6666;
/// `GUARD_WRAP_MAGIC`: xored with the header's salt and the pointer, the
/// key of a live wrapped block.
pub const GUARD_WRAP_MAGIC: u64 = 0x7061_7277_6472_6167;
/// `GUARD_WRAP_FREED_MAGIC`: xored with the salt and the pointer, the key
/// of a freed wrapped block in the wrapped quarantine.
pub const GUARD_WRAP_FREED_MAGIC: u64 = 0x6465_6572_6670_6177;
/// Where the header is in every process.
pub const GUARD_HEADER_ADDR: u64 = 0x6000_0000_0000;
/// Size of the arena.
pub const GUARD_ARENA_SIZE: u64 = 64 << 30;
/// Most slots.
pub const GUARD_MAX_SLOTS: u64 = 4 << 20;
/// Most live wrapped blocks recorded.
pub const GUARD_MAX_WRAPPED: u64 = 16 << 20;
/// Most distinct stacks in the depot.
pub const GUARD_MAX_STACKS: u64 = 1 << 20;
/// Return addresses kept per stack.
pub const GUARD_FRAMES: usize = 8;
/// Canary bytes after a wrapped block.
pub const GUARD_CANARY_SIZE: u64 = 8;
/// The value of every slack and canary byte, and of every byte of a
/// poisoned freed slot (`GUARD_POISON_BYTE`).
pub const SLACK_BYTE: u8 = 0xa5;
/// Slack bytes past an allocation's end that are filled and checked
/// (`GUARD_SLACK_CHECKED`): all up to the guard where there are fewer.
pub const GUARD_SLACK_CHECKED: u64 = 256;
/// Eight poison bytes read as a pointer: a non-canonical address, so a
/// stale pointer read from freed memory and followed faults.
pub const POISON_POINTER: u64 = 0xa5a5_a5a5_a5a5_a5a5;
/// Bytes of scratch space the supervisor may use, at
/// [`GUARD_SCRATCH_OFFSET`].
pub const GUARD_SCRATCH_SIZE: u64 = 256;
/// Offset of the scratch space (in the header's page).
pub const GUARD_SCRATCH_OFFSET: u64 = 2048;
/// Offset of the page index (u32 per arena page: slot + 1, or 0).
pub const GUARD_INDEX_OFFSET: u64 = 4096;
/// Offset of the slot array.
pub const GUARD_SLOTS_OFFSET: u64 = GUARD_INDEX_OFFSET + (GUARD_ARENA_SIZE / 4096) * 4;
/// Offset of the live slot ids (u32 each).
pub const GUARD_LIVE_OFFSET: u64 = GUARD_SLOTS_OFFSET + GUARD_MAX_SLOTS * SLOT_SIZE;
/// Offset of the live wrapped blocks' pointers (u64 each).
pub const GUARD_WRAPPED_OFFSET: u64 = GUARD_LIVE_OFFSET + GUARD_MAX_SLOTS * 4;
/// Offset of the stack depot.
pub const GUARD_STACKS_OFFSET: u64 = GUARD_WRAPPED_OFFSET + GUARD_MAX_WRAPPED * 8;
/// Entries of the stack depot's hash index.
pub const GUARD_STACK_BUCKETS: u64 = 64 << 10;
/// Offset of the wrapped quarantine (a ring of u64 pointers).
pub const GUARD_WQ_OFFSET: u64 = GUARD_STACKS_OFFSET
    + GUARD_MAX_STACKS * std::mem::size_of::<Stack>() as u64
    + GUARD_STACK_BUCKETS * 4;
/// Entries of the wrapped quarantine.
pub const GUARD_WRAP_QUARANTINE: u64 = 64 << 10;

const SLOT_SIZE: u64 = std::mem::size_of::<Slot>() as u64;

/// `GUARD_PROTECT_MADVISE`: guard regions in a read-write arena.
pub const PROTECT_MADVISE: u32 = 1;
/// `GUARD_PROTECT_MPROTECT`: PROT_NONE mappings.
pub const PROTECT_MPROTECT: u32 = 2;

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
    /// `PROTECT_MADVISE` or `PROTECT_MPROTECT`.
    pub protect: u32,
    /// `size_of::<Wrap>()`.
    pub wrap_size: u32,
    /// Most live guarded allocations.
    pub budget: u64,
    /// Most pages held by live guarded allocations.
    pub budget_pages: u64,
    /// Every allocation request.
    pub allocations: u64,
    /// Of which guarded.
    pub guarded: u64,
    /// Guarded and not yet freed: entries of the live list.
    pub live: u64,
    /// Pages they hold.
    pub live_pages: u64,
    /// Guarded frees.
    pub frees: u64,
    /// Slots ever used.
    pub slot_count: u64,
    /// Live wrapped blocks: entries of the wrapped list.
    pub wrapped: u64,
    /// Entries of the stack depot.
    pub stack_count: u64,
    /// Xored into wrapped blocks' keys.
    pub wrap_salt: u64,
    /// Guarded allocations placed in a recycled slot (no system call).
    pub recycled: u64,
    /// Guarded frees left poisoned, not protected.
    pub poisoned: u64,
    /// Pages of poisoned slots in quarantine.
    pub quarantine_pages: u64,
    /// Pages of recycled slots ready for reuse.
    pub pool_pages: u64,
    /// Nanoseconds spent in the kernel for guards.
    pub cost_ns: u64,
    /// The wrapped quarantine's oldest entry.
    pub wq_head: u64,
    /// Its entries.
    pub wq_len: u64,
    /// The bytes of the blocks in it.
    pub wq_bytes: u64,
    /// Set by the supervisor when it hands the process over to the test's
    /// own tracer: the library then makes no system call of its own there.
    pub handed_over: u32,
    /// Unused.
    pub reserved: u32,
}

/// `enum guard_state`: live.
pub const SLOT_LIVE: u32 = 1;
/// `enum guard_state`: freed.
pub const SLOT_FREED: u32 = 2;
/// `GUARD_SLOT_POISONED`: a freed slot left accessible, filled with
/// [`SLACK_BYTE`].
pub const SLOT_POISONED: u32 = 1;

/// `struct guard_slot`: one guarded allocation.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    /// First page of the slot (its data; the guard page is its last).
    pub start: u64,
    /// The pointer handed out.
    pub user: u64,
    /// Bytes requested.
    pub size: u64,
    /// Pages, guard included.
    pub pages: u32,
    /// `SLOT_LIVE` or `SLOT_FREED` (0 while being filled or recycled).
    pub state: u32,
    /// Alignment of `user`.
    pub align: u32,
    /// 1 if placed at the start of its data (underflows fault).
    pub before: u32,
    /// Thread that allocated it.
    pub alloc_tid: i32,
    /// Thread that freed it.
    pub free_tid: i32,
    /// Stack depot id of the allocation's call site (0: none).
    pub alloc_stack: u32,
    /// Stack depot id of the free's call site.
    pub free_stack: u32,
    /// Its place in the live list (the next of its list while pooled).
    pub live_index: u32,
    /// `enum guard_slot_flags` ([`SLOT_POISONED`], ...), once freed.
    pub flags: u32,
}

impl Slot {
    /// The end of the allocation (one past its last byte).
    pub fn end(&self) -> u64 {
        self.user + self.size
    }

    /// The slot's guard page (its last).
    pub fn guard_page(&self) -> u64 {
        self.start + u64::from(self.pages.saturating_sub(1)) * 4096
    }

    /// The end of the slack that is filled and checked
    /// ([`GUARD_SLACK_CHECKED`] bytes past the end, or up to the guard).
    pub fn slack_end(&self) -> u64 {
        (self.end() + GUARD_SLACK_CHECKED).min(self.guard_page())
    }
}

/// `struct guard_wrap`, right before a wrapped block's pointer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Wrap {
    /// Bytes requested.
    pub size: u64,
    /// Stack depot id of the call site.
    pub alloc_stack: u32,
    /// Thread that allocated it.
    pub alloc_tid: i32,
    /// Its place in the wrapped list while live; the free's stack depot id
    /// once freed.
    pub live_index: u32,
    /// Thread that freed it, once freed.
    pub free_tid: i32,
    /// `GUARD_WRAP_MAGIC ^ wrap_salt ^ pointer` while live
    /// (`GUARD_WRAP_FREED_MAGIC` in the wrapped quarantine).
    pub key: u64,
}

/// `struct guard_stack`: a distinct call stack in the depot.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Stack {
    /// Its hash.
    pub hash: u64,
    /// Return addresses, innermost first, 0-padded.
    pub pcs: [u64; GUARD_FRAMES],
    /// The next entry in its hash bucket's chain (0: none).
    pub next: u32,
    /// 1 once an allocation from this stack was guarded.
    pub guarded: u32,
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
    /// The bytes between the end of a guarded allocation and its guard
    /// were changed.
    SlackCorrupted,
    /// The canary bytes after a wrapped block were changed.
    CanaryCorrupted,
    /// A call that is not async-signal-safe ran in a signal handler:
    /// `reserved` names it ([`UNSAFE_CALLS`]), `ptr` is the handler, `slot`
    /// the signal.
    SignalUnsafeCall,
    /// A poisoned freed slot's bytes changed (found when it left the
    /// quarantine): `offset` and `length` say which.
    WriteAfterFree,
    /// The bytes right before a live wrapped block (its header's key) were
    /// changed (found when it was freed or resized).
    HeaderCorrupted,
}

/// The calls a [`ErrorKind::SignalUnsafeCall`] record names, by its
/// `reserved` field (`GUARD_UNSAFE_NAMES` in `guard.h`; `memalign` stands
/// for the aligned allocation functions, `printf` for its family, `puts`
/// for the character and string writers).
pub const UNSAFE_CALLS: [&str; 13] = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "memalign",
    "pthread_mutex_lock",
    "pthread_mutex_unlock",
    "pthread_cond_wait",
    "pthread_cond_signal",
    "printf",
    "puts",
    "fwrite",
    "fflush",
];

impl ErrorKind {
    /// From the record's `kind` field.
    pub fn from_raw(kind: u32) -> Option<ErrorKind> {
        Some(match kind {
            1 => ErrorKind::DoubleFree,
            2 => ErrorKind::InvalidFree,
            3 => ErrorKind::ReallocFreed,
            4 => ErrorKind::SlackCorrupted,
            5 => ErrorKind::CanaryCorrupted,
            6 => ErrorKind::SignalUnsafeCall,
            7 => ErrorKind::WriteAfterFree,
            8 => ErrorKind::HeaderCorrupted,
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
    /// [`ErrorKind::WriteAfterFree`]: the first changed byte, from `ptr`.
    pub offset: u64,
    /// [`ErrorKind::WriteAfterFree`]: bytes from the first changed to the last.
    pub length: u64,
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
    /// `mprotect`: the allocator makes pages inaccessible with mprotect
    /// even where the kernel has guard regions (for tests of that mode).
    /// Passed on from the supervisor's own environment.
    pub const PROTECT: &str = "FFI_CHECK_GUARD_PROTECT";
    /// Where Rust's default allocator enters malloc in the test binary
    /// (`dev:ino:alloc:zeroed:realloc`, hex; see
    /// [`crate::linux::symbols::rust_alloc`]): its allocations get their
    /// layout's alignment. The library checks that its executable is that
    /// file, so programs the test runs ignore it.
    pub const RUST_ALLOC: &str = "FFI_CHECK_RUST_ALLOC";
    /// Every variable above, and the schedule's.
    pub const ALL: [&str; 8] = [
        SEED,
        GUARD_SIDE,
        SUPERVISED,
        HARNESS_MAIN,
        GUARD,
        PROTECT,
        RUST_ALLOC,
        super::schedule::ENV_PATH,
    ];
}

/// The seeded schedule's shared region (`preload/protocol/schedule.h`): one file
/// per run, mapped by the supervisor and every process of the test.
pub mod schedule {
    /// `SCHED_MAGIC`: the header is written.
    pub const MAGIC: u64 = 0x6863_732d_6366_666c;
    /// `SCHED_VERSION`.
    pub const VERSION: u32 = 5;
    /// `SCHED_ENV_PATH`: the variable naming the region's file.
    pub const ENV_PATH: &str = "FFI_CHECK_SCHEDULE";
    /// `SCHED_THREADS`: slots of the thread table.
    pub const THREADS: usize = 8192;
    /// `SCHED_JOURNAL`: entries of the journal ring.
    pub const JOURNAL: usize = 1024;
    /// `SCHED_CLOCKS`: slots of the table of the program's pending clocks.
    pub const CLOCKS: usize = 64;
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
    /// `SCHED_CLOCK_WAIT`: a clock that is a sleep or timed wait.
    pub const CLOCK_WAIT: u32 = 0;
    /// `SCHED_CLOCK_TIMER`: a clock that is a timer.
    pub const CLOCK_TIMER: u32 = 1;
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

    /// `struct sched_clock`: a clock the program runs (a sleep, a timed
    /// wait, a timer), written and read by the processes only.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Clock {
        /// `CLOCK_MONOTONIC`; 0 free, `u64::MAX` being written.
        pub deadline_ns: u64,
        /// How long the program set it for.
        pub length_ns: u64,
        /// The thread that set it.
        pub tid: i32,
        /// `SCHED_CLOCK_WAIT` or `SCHED_CLOCK_TIMER`.
        pub kind: u32,
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
        /// Atomic: a hold aimed at a window lasts until then ...
        pub aimed_until_ns: u64,
        /// Atomic: ... in this thread (no other is held meanwhile).
        pub aimed_tid: i64,
        /// Atomic: when a thread or process of the test was last created.
        pub spawned_ns: u64,
        /// Atomic: charged to the preemption points' own pot (written by
        /// the supervisor only).
        pub preempt_spent_ns: u64,
        /// Atomic: threads inside a hold of the processes' now.
        pub holding: i64,
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
        /// The program's pending clocks.
        pub clocks: [Clock; CLOCKS],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_c_header() {
        use std::mem::{offset_of, size_of};
        let h = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/preload/protocol/guard.h"
        ))
        .unwrap();
        assert!(h.contains("#define GUARD_HEADER_ADDR 0x600000000000UL"));
        assert!(h.contains("#define GUARD_FRAMES 8"));
        assert!(h.contains("#define GUARD_ARENA_SIZE (64UL << 30)"));
        assert!(h.contains("#define GUARD_VERSION 5u"));
        assert!(h.contains("#define GUARD_POISON_BYTE 0xa5"));
        assert!(h.contains("#define GUARD_SLACK_CHECKED 256u"));
        assert!(h.contains("GUARD_WRITE_AFTER_FREE = 7,"));
        assert!(h.contains("GUARD_HEADER_CORRUPTED = 8,"));
        assert!(h.contains("GUARD_SLOT_POISONED = 1,"));
        assert!(h.contains("#define GUARD_MAGIC 0x32647261756763ffULL"));
        assert!(h.contains("#define GUARD_WRAP_MAGIC 0x7061727764726167ULL"));
        assert!(h.contains("#define GUARD_CANARY_SIZE 8"));
        assert!(
            h.contains(&format!(
                "#define GUARD_UNSAFE_NAMES \"{}\"",
                UNSAFE_CALLS.join(",")
            )),
            "guard.h's GUARD_UNSAFE_NAMES differs from UNSAFE_CALLS"
        );
        assert!(h.contains("GUARD_SIGNAL_UNSAFE_CALL = 6,"));
        for (name, value) in [
            ("SEED", env::SEED),
            ("GUARD_SIDE", env::GUARD_SIDE),
            ("SUPERVISED", env::SUPERVISED),
            ("HARNESS_MAIN", env::HARNESS_MAIN),
            ("GUARD", env::GUARD),
            ("PROTECT", env::PROTECT),
            ("RUST_ALLOC", env::RUST_ALLOC),
        ] {
            let define = format!("#define GUARD_ENV_{name} \"{value}\"");
            assert!(h.contains(&define), "guard.h lacks {define}");
        }
        let Some(c) = c_values(
            "guard.h",
            &[
                "sizeof(struct guard_header)",
                "sizeof(struct guard_slot)",
                "sizeof(struct guard_wrap)",
                "sizeof(struct guard_stack)",
                "sizeof(struct guard_error)",
                "offsetof(struct guard_header, protect)",
                "offsetof(struct guard_header, wrap_salt)",
                "offsetof(struct guard_header, cost_ns)",
                "offsetof(struct guard_slot, flags)",
                "offsetof(struct guard_error, length)",
                "offsetof(struct guard_header, wq_bytes)",
                "offsetof(struct guard_header, handed_over)",
                "GUARD_WQ_OFFSET",
                "GUARD_WRAP_QUARANTINE",
                "GUARD_WRAP_FREED_MAGIC",
                "offsetof(struct guard_slot, alloc_stack)",
                "offsetof(struct guard_slot, live_index)",
                "offsetof(struct guard_wrap, key)",
                "GUARD_SCRATCH_OFFSET",
                "GUARD_SLOTS_OFFSET",
                "GUARD_LIVE_OFFSET",
                "GUARD_WRAPPED_OFFSET",
                "GUARD_STACKS_OFFSET",
                "GUARD_MAX_STACKS",
                "GUARD_SCRATCH_SIZE",
            ],
        ) else {
            eprintln!("skipping the layout comparison: no C compiler");
            return;
        };
        let rust = [
            size_of::<Header>() as u64,
            size_of::<Slot>() as u64,
            size_of::<Wrap>() as u64,
            size_of::<Stack>() as u64,
            size_of::<ErrorRecord>() as u64,
            offset_of!(Header, protect) as u64,
            offset_of!(Header, wrap_salt) as u64,
            offset_of!(Header, cost_ns) as u64,
            offset_of!(Slot, flags) as u64,
            offset_of!(ErrorRecord, length) as u64,
            offset_of!(Header, wq_bytes) as u64,
            offset_of!(Header, handed_over) as u64,
            GUARD_WQ_OFFSET,
            GUARD_WRAP_QUARANTINE,
            GUARD_WRAP_FREED_MAGIC,
            offset_of!(Slot, alloc_stack) as u64,
            offset_of!(Slot, live_index) as u64,
            offset_of!(Wrap, key) as u64,
            GUARD_SCRATCH_OFFSET,
            GUARD_SLOTS_OFFSET,
            GUARD_LIVE_OFFSET,
            GUARD_WRAPPED_OFFSET,
            GUARD_STACKS_OFFSET,
            GUARD_MAX_STACKS,
            GUARD_SCRATCH_SIZE,
        ];
        assert_eq!(c, rust);
    }

    /// The values of C expressions, from a program built against `header`
    /// (in `preload/`); `None` without a C compiler.
    fn c_values(header: &str, exprs: &[&str]) -> Option<Vec<u64>> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ffc-layout-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let src = dir.join("layout.c");
        let prints: String = exprs
            .iter()
            .map(|e| format!("    printf(\"%llu\\n\", (unsigned long long)({e}));\n"))
            .collect();
        std::fs::write(
            &src,
            format!(
                "#include <stddef.h>\n#include <stdio.h>\n#include \"{header}\"\nint main(void) {{\n{prints}    return 0;\n}}\n"
            ),
        )
        .ok()?;
        let exe = dir.join("layout");
        let status = std::process::Command::new("cc")
            .arg("-I")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/preload/protocol"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .status()
            .ok()?;
        assert!(status.success(), "the layout program does not compile");
        let out = std::process::Command::new(&exe).output().ok()?;
        let _ = std::fs::remove_dir_all(&dir);
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|n| n.parse().unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_schedule_region_matches_the_c_header() {
        use schedule::*;
        use std::mem::{offset_of, size_of};
        let h = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/preload/protocol/schedule.h"
        ))
        .unwrap();
        assert!(h.contains("#define SCHED_ENV_PATH \"FFI_CHECK_SCHEDULE\""));
        assert!(h.contains("#define SCHED_VERSION 5u"));
        assert!(h.contains("#define SCHED_CLOCKS 64u"));
        assert!(h.contains("SCHED_CLOCK_WAIT = 0,") && h.contains("SCHED_CLOCK_TIMER = 1,"));
        assert!(h.contains("#define SCHED_MAGIC 0x6863732d6366666cULL"));
        let Some(c) = c_values(
            "schedule.h",
            &[
                "sizeof(struct sched_shared)",
                "sizeof(struct sched_thread)",
                "sizeof(struct sched_event)",
                "offsetof(struct sched_shared, key)",
                "offsetof(struct sched_shared, spent_ns)",
                "offsetof(struct sched_shared, held_ns)",
                "offsetof(struct sched_shared, active)",
                "offsetof(struct sched_shared, threads)",
                "offsetof(struct sched_shared, journal)",
                "offsetof(struct sched_shared, clocks)",
                "sizeof(struct sched_clock)",
                "offsetof(struct sched_event, held_ns)",
                "offsetof(struct sched_event, text)",
            ],
        ) else {
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
            offset_of!(Shared, clocks),
            size_of::<Clock>(),
            offset_of!(Event, held_ns),
            offset_of!(Event, text),
        ];
        assert_eq!(c, rust.map(|n| n as u64));
    }
}
