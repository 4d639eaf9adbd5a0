//! Findings as the user sees them: located, identified, and deduplicated
//! across tests and seeds.
//!
//! Takes in the supervisor's findings ([`tracer::Finding`], with absolute
//! paths) and a failed test's stderr; hands on [`Finding`]s, with paths
//! relative to the workspace and a stable id, and [`Findings`], each
//! [`Distinct`] finding with every test and seed that showed it.
//! [`finding`] is one finding, [`frames`] tells a stack's frames apart and
//! picks the frame a finding points at, [`distinct`] deduplicates.

mod distinct;
mod finding;
mod frames;

pub use distinct::{Distinct, Findings};
/// Used outside only by tests (the baseline's), to make ids.
#[cfg(test)]
pub use finding::finding_id;
pub use finding::{kinds, Finding, Location, Mark, TEST_FAILURE};
pub use frames::{short_backtrace_len, user_frames};
