//! The guard allocator that is preloaded into every test process: the
//! compiled library embedded in the binary and written out once per user,
//! and in [`protocol`] everything the supervisor and the allocator agree on
//! (its metadata table's layout, its error records, the environment
//! variables that steer it).

pub mod protocol;

/// The compiled guard allocator (empty on platforms that cannot trace).
pub const GUARD_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libffi_check_guard.so"));

#[cfg(unix)]
mod install;
#[cfg(unix)]
pub use install::install;
