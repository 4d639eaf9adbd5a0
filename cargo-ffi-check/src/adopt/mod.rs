//! Adoption: running the tool on a suite that already has findings.
//!
//! Takes in each job's [`JobReport`](crate::execute::outcome::JobReport)
//! and its findings. [`suppress`] moves out the findings that
//! `[[suppress]]` entries cover (they fail nothing); [`known`] marks the
//! others against `--baseline` ([`baseline`]) and collects
//! `--gen-suppressions` entries ([`gen_suppressions`]). Hands on to the
//! reporter which findings are new (they fail the run) and which known,
//! and at the end writes `--write-baseline` and `--gen-suppressions`.

pub mod baseline;
pub mod gen_suppressions;
pub mod known;
pub mod suppress;
