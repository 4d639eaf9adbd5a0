//! `cargo ffi-check`: run a workspace's tests under a ptrace supervisor and
//! report memory bugs at the Rust/C boundary.
//!
//! The binary only wires the stages together ([`run`]); the folders read as
//! the data flows:
//!
//! - [`setup`]: the command line and `.config/ffi-check.toml`, resolved
//!   once into the settings of the run;
//! - [`build`]: the test binaries (`cargo test --no-run`), their tests, and
//!   the ones selected to run;
//! - [`execute`]: every (test, seed) job on the pool under `tracer`, and
//!   what each result means;
//! - [`findings`]: findings located, identified, and deduplicated across
//!   tests and seeds;
//! - [`adopt`]: known findings: `[[suppress]]` entries, `--baseline`,
//!   `--gen-suppressions`;
//! - [`report`]: what the user sees (text, JSON lines, JUnit, GitHub), the
//!   summary and the exit code.

mod adopt;
mod build;
mod execute;
mod findings;
mod report;
mod run;
mod setup;

fn main() {
    let cli = setup::cli::Cli::from_env();
    let code = match run::run(cli) {
        Ok(code) => code,
        Err(e) if e.is::<build::BuildFailed>() => {
            eprintln!("{}: {e}", console::style("error").red().bold());
            report::exit_code::BUILD_FAILED
        }
        Err(e) => {
            eprintln!("{}: {e:#}", console::style("error").red().bold());
            report::exit_code::SETUP_ERROR
        }
    };
    std::process::exit(code);
}
