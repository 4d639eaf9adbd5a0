//! Setup: what the user asked for and how the run goes.
//!
//! Takes in the command line ([`cli`], as clap sees it) and
//! `.config/ffi-check.toml` at the workspace root ([`config`]: profiles of
//! run settings, `[[suppress]]` entries and [test groups](groups), whose
//! overrides pick tests with a [`filter`]); [`seeds`] and [`duration`]
//! parse the values both of them accept. Hands on the [`settings::Settings`]
//! every later stage reads, resolved once, and the arguments that are not
//! settings (cargo's, the filters, the output and `--baseline` options).

pub mod cli;
pub mod config;
pub mod duration;
pub mod filter;
pub mod groups;
pub mod seeds;
pub mod settings;
