//! Early hang detection: when every thread of the test waits for good, and
//! who holds the locks they wait for.

pub mod detect;
pub mod locks;
pub mod sockets;
pub mod timers;
pub mod waits;
