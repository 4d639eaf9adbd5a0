//! What the supervisor reports: findings, the memory access behind them and
//! the stack frames where they happened.

use serde::Serialize;

/// Whether an instruction read or wrote the memory it faulted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccessKind {
    /// The instruction loaded from memory.
    Read,
    /// The instruction stored to memory (read-modify-write counts as a write).
    Write,
}

impl std::fmt::Display for AccessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "READ",
            AccessKind::Write => "WRITE",
        })
    }
}

/// One memory access made by one instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// READ or WRITE.
    pub kind: AccessKind,
    /// Effective address of the first byte accessed.
    pub address: u64,
    /// Number of bytes accessed.
    pub size: u32,
}

/// The kind of a finding, named as users know them from ASan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// An access past the end of a heap allocation.
    HeapBufferOverflow,
    /// An access before the start of a heap allocation.
    HeapBufferUnderflow,
    /// An access to a heap allocation after it was freed (or realloc of one).
    HeapUseAfterFree,
    /// A heap allocation freed twice.
    DoubleFree,
    /// free of a pointer that no allocation starts at.
    InvalidFree,
    /// An access near address zero (below 64 KiB, where nothing is ever mapped).
    NullDereference,
    /// An access to memory that is not mapped or not accessible.
    WildAccess,
    /// A thread ran into its stack guard.
    StackOverflow,
    /// The process was killed by a signal without a decoded access violation.
    Crash,
    /// The command ran past its timeout and was killed.
    Timeout,
    /// Every thread of every process was blocked in an indefinite wait
    /// (deadlock, lost wakeup): declared before the timeout.
    Hang,
    /// A signal handler called a function that is not async-signal-safe
    /// (malloc, free, a mutex, stdio).
    SignalUnsafeCall,
    /// Heap allocations still live and unreachable when their process
    /// exited.
    Leak,
}

impl FindingKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [FindingKind; 13] = [
        FindingKind::HeapBufferOverflow,
        FindingKind::HeapBufferUnderflow,
        FindingKind::HeapUseAfterFree,
        FindingKind::DoubleFree,
        FindingKind::InvalidFree,
        FindingKind::NullDereference,
        FindingKind::WildAccess,
        FindingKind::StackOverflow,
        FindingKind::Crash,
        FindingKind::Timeout,
        FindingKind::Hang,
        FindingKind::SignalUnsafeCall,
        FindingKind::Leak,
    ];

    /// The kebab-case name used in reports (`null-dereference`, ...), the
    /// same as its serialized form.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::HeapBufferOverflow => "heap-buffer-overflow",
            FindingKind::HeapBufferUnderflow => "heap-buffer-underflow",
            FindingKind::HeapUseAfterFree => "heap-use-after-free",
            FindingKind::DoubleFree => "double-free",
            FindingKind::InvalidFree => "invalid-free",
            FindingKind::NullDereference => "null-dereference",
            FindingKind::WildAccess => "wild-access",
            FindingKind::StackOverflow => "stack-overflow",
            FindingKind::Crash => "crash",
            FindingKind::Timeout => "timeout",
            FindingKind::Hang => "hang",
            FindingKind::SignalUnsafeCall => "signal-unsafe-call",
            FindingKind::Leak => "leak",
        }
    }

    /// Whether it is an access to a guarded heap allocation (the access is
    /// performed for the test, which goes on).
    pub fn is_heap_access(self) -> bool {
        matches!(
            self,
            FindingKind::HeapBufferOverflow
                | FindingKind::HeapBufferUnderflow
                | FindingKind::HeapUseAfterFree
        )
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One symbolized stack frame. Inlined functions produce several frames with
/// the same `pc`, innermost first, all but the last marked `inlined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Program counter (for caller frames: the return address minus one).
    pub pc: u64,
    /// Demangled function name, without Rust's hash suffix.
    pub function: Option<String>,
    /// Source file as recorded in the debug info.
    pub file: Option<String>,
    /// 1-based source line.
    pub line: Option<u32>,
    /// 1-based source column, when known.
    pub column: Option<u32>,
    /// Path of the mapped object (executable or shared library) holding `pc`.
    pub module: Option<String>,
    /// Offset of `pc` from the module's load base (what `addr2line -e` takes).
    pub module_offset: u64,
    /// True when this frame was inlined into the next one.
    pub inlined: bool,
}

/// The thread a finding happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadInfo {
    /// Process id (thread group id).
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Thread name from `/proc/PID/task/TID/comm` (at most 15 bytes on Linux).
    pub name: String,
}

/// Something the supervisor observed that the user should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// One-line description ("WRITE of size 4 at 0x0 (NULL + 0)").
    pub message: String,
    /// The faulting access, for access violations.
    pub access: Option<Access>,
    /// The faulting instruction as text (`mov dword ptr [rax], 0x2a`).
    pub instruction: Option<String>,
    /// The signal involved (`SIGSEGV`, `SIGABRT`, ...).
    pub signal: Option<String>,
    /// Where it happened; innermost frame first. Empty if unwinding failed.
    pub backtrace: Vec<Frame>,
    /// The thread it happened on.
    pub thread: Option<ThreadInfo>,
    /// Extra lines of explanation.
    pub notes: Vec<String>,
    /// For timeouts: every thread of every process, what it was doing and where.
    pub threads: Vec<ThreadState>,
    /// For heap findings: the allocation involved.
    pub allocation: Option<Allocation>,
    /// How many times it happened in this run (heap accesses are performed
    /// for the test and it goes on, so the same one can recur).
    pub count: u64,
    /// The last scheduling events before it (calls where threads hand over, signals,
    /// thread and process starts and ends), oldest first. Empty without the
    /// seeded schedule.
    pub events: Vec<SchedEvent>,
}

impl Finding {
    /// A finding of `kind` described by `message`, seen once, with nothing
    /// else known yet; callers fill in the rest with struct update syntax
    /// (`Finding { backtrace, ..Finding::new(kind, message) }`).
    pub fn new(kind: FindingKind, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            message: message.into(),
            access: None,
            instruction: None,
            signal: None,
            backtrace: Vec::new(),
            thread: None,
            notes: Vec::new(),
            threads: Vec::new(),
            allocation: None,
            count: 1,
            events: Vec::new(),
        }
    }
}

/// One event in the realised order of a run under the seeded schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedEvent {
    /// Microseconds since the command started.
    pub at_us: u64,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// What happened: `write(5, 0x7ffd.., 4)`, `signal SIGSTOP`, `exit 0`.
    pub what: String,
    /// How long the schedule held the thread there, in microseconds.
    pub held_us: Option<u64>,
}

/// A heap allocation made through the guard allocator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// The pointer the allocator handed out.
    pub address: u64,
    /// Bytes requested.
    pub size: u64,
    /// Thread that allocated it.
    pub allocated_tid: i32,
    /// Where it was allocated, innermost first (allocator frames included).
    pub allocated_at: Vec<Frame>,
    /// Thread that freed it, if freed.
    pub freed_tid: Option<i32>,
    /// Where it was freed, innermost first.
    pub freed_at: Vec<Frame>,
}

/// What one thread was doing when the supervisor stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadState {
    /// Which thread.
    pub thread: ThreadInfo,
    /// The system call it was blocked in, with its arguments
    /// (`futex(0x7f.., 0x80, 0x2, 0x0, ..)`), or `None` if it was running.
    pub syscall: Option<String>,
    /// Its stack, innermost frame first.
    pub backtrace: Vec<Frame>,
    /// What it waits for, when the supervisor could tell (`the glibc mutex
    /// at 0x.. held by thread 1235 "worker"`).
    pub waiting_for: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_named_as_it_serializes() {
        let names: std::collections::BTreeSet<&str> =
            FindingKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FindingKind::ALL.len());
        for k in FindingKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
    }
}
