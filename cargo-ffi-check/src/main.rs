//! `cargo ffi-check`: run a workspace's tests under a ptrace supervisor and
//! report memory bugs at the Rust/C boundary.
//!
//! The binary only wires the pieces together ([`run`]): [`build`] and
//! [`list`] find the tests, [`config`] and [`settings`] say how to run them,
//! [`pool`] runs them under `tracer`, [`outcome`] and [`findings`] say what
//! each result means, and [`report`] shows it.

mod baseline;
mod build;
mod cli;
mod config;
mod duration;
mod exit_code;
mod files;
mod findings;
mod flaky;
mod gen_suppressions;
mod list;
mod outcome;
mod partition;
mod pool;
mod report;
mod run;
mod seeds;
mod settings;
mod suppress;

fn main() {
    let cli = cli::Cli::from_env();
    let code = match run::run(cli) {
        Ok(code) => code,
        Err(e) if e.is::<build::BuildFailed>() => {
            eprintln!("{}: {e}", console::style("error").red().bold());
            exit_code::BUILD_FAILED
        }
        Err(e) => {
            eprintln!("{}: {e:#}", console::style("error").red().bold());
            exit_code::SETUP_ERROR
        }
    };
    std::process::exit(code);
}
