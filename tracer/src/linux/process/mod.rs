//! Starting and controlling traced processes: ptrace requests and waits,
//! fork/seize/exec, the seccomp filter that stops the calls the supervisor
//! must see, isolating a test in namespaces of its own, waking the
//! supervisor, capturing output, reading a tracee's memory and what `/proc`
//! says about its threads; and a test-only switch
//! that makes a tracee vanish between two requests.

pub mod capture;
pub mod inject;
pub mod isolate;
pub mod memory;
pub mod notify;
pub mod proc;
pub mod ptrace;
pub mod raw;
pub mod seccomp;
pub mod spawn;
pub mod timer;
pub mod vanish;
pub mod watchdog;
