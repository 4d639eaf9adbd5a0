//! Execute: every test under every seed.
//!
//! Takes in the selected tests and the
//! [`Settings`](crate::setup::settings::Settings). Runs each (test, seed)
//! job under `tracer` on the [`pool`], in the order [`dispatch`] allows
//! (seeds of one test one at a time, test groups within their limits), and hands back each
//! [`Finished`](pool::Finished) job as it finishes. [`outcome`] says what
//! one job's result means (a [`JobReport`](outcome::JobReport): its status
//! and its [findings](crate::findings)), and [`flaky`] judges a test's
//! results across seeds once the run is over; the reporter calls both.

pub mod dispatch;
pub mod flaky;
pub mod outcome;
pub mod pool;
