//! Known findings over a run: marking each finding against `--baseline`,
//! collecting `--gen-suppressions` entries, and at the end the baseline's
//! summary and the files `--write-baseline` and `--gen-suppressions` write.

use crate::adopt::baseline::{self, Baseline, Tally};
use crate::adopt::gen_suppressions::Generator;
use crate::execute::outcome::{JobReport, Status};
use crate::findings::{Distinct, Finding, Mark};
use crate::report::human::plural;
use crate::report::json::BaselineSummary;
use crate::setup::cli::KnownArgs;
use anyhow::Result;
use std::path::PathBuf;

/// `--baseline`, `--write-baseline` and `--gen-suppressions`; the files are
/// read before the run, so that a bad one stops it before any test runs.
#[derive(Debug, Default)]
pub struct Known {
    /// The baseline findings are marked against.
    baseline: Option<Baseline>,
    /// Where the run's distinct findings are recorded.
    write_baseline: Option<PathBuf>,
    /// Where entries for the run's findings go.
    generator: Option<Generator>,
    /// What the run matched of the baseline.
    tally: Tally,
}

impl Known {
    /// Reads the `--baseline` and the `--gen-suppressions` file the command
    /// line names: a missing or malformed baseline, or a file to add
    /// suppressions to that is not a configuration, is an error.
    pub fn open(args: &KnownArgs) -> Result<Known> {
        Ok(Known {
            baseline: args.baseline.as_deref().map(Baseline::load).transpose()?,
            write_baseline: args.write_baseline.clone(),
            generator: args
                .gen_suppressions
                .as_deref()
                .map(Generator::new)
                .transpose()?,
            tally: Tally::default(),
        })
    }

    /// Marks each of a job's findings new or known against `--baseline`;
    /// true if the job did not pass and the baseline knows every finding.
    pub fn mark(&mut self, r: &mut JobReport, test: &str) -> bool {
        let Some(baseline) = &self.baseline else {
            return false;
        };
        if r.status != Status::Cancelled {
            self.tally.ran.insert(test.to_string());
        }
        for f in &mut r.findings {
            f.baseline = Some(match baseline.entry_of(f) {
                Some(i) => {
                    self.tally.matched.insert(i);
                    Mark::Known
                }
                None => Mark::New,
            });
        }
        r.is_problem()
            && !r.findings.is_empty()
            && r.findings.iter().all(|f| f.baseline == Some(Mark::Known))
    }

    /// A job's findings, for `--gen-suppressions` (every occurrence counts:
    /// one finding can be reached along several stacks).
    pub fn observe(&mut self, findings: &[Finding], test: &str, seed: u64) {
        if let Some(g) = &mut self.generator {
            for f in findings {
                g.add(f, test, seed);
            }
        }
    }

    /// With `--baseline`: prints how many of the `distinct` findings are new
    /// and known, and the entries that no longer occur; the same for JSON.
    pub fn report_baseline(&self, distinct: &[Distinct]) -> Option<BaselineSummary> {
        let baseline = self.baseline.as_ref()?;
        let new = distinct
            .iter()
            .filter(|d| d.finding.baseline == Some(Mark::New))
            .count();
        let gone: Vec<baseline::Entry> = self.tally.gone(baseline).into_iter().cloned().collect();
        let file = baseline.path.display().to_string();
        eprintln!(
            "{} {}, {} known (in {file}){}",
            console::style(format!("{:>12}", "Baseline")).bold(),
            plural(new, "new finding", "new findings"),
            distinct.len() - new,
            if gone.is_empty() {
                String::new()
            } else {
                format!("; {} of its entries no longer occur:", gone.len())
            }
        );
        for e in &gone {
            eprintln!("  {}", e.describe());
        }
        if !gone.is_empty() {
            eprintln!(
                "{:>12} `--baseline {file} --write-baseline {file}` drops them from the file",
                ""
            );
        }
        Some(BaselineSummary {
            file,
            new,
            known: distinct.len() - new,
            gone,
        })
    }

    /// Writes the `--gen-suppressions` and `--write-baseline` files, if
    /// asked for; the result of each.
    pub fn write(&mut self, distinct: &[Distinct], interrupted: bool) -> Vec<Result<()>> {
        vec![
            generate_suppressions(self.generator.take(), distinct.len()),
            self.write_baseline(distinct, interrupted),
        ]
    }

    /// `--write-baseline`: records the run's distinct findings (not after an
    /// interruption: the file would lose what the run did not get to).
    fn write_baseline(&self, distinct: &[Distinct], interrupted: bool) -> Result<()> {
        let Some(path) = &self.write_baseline else {
            return Ok(());
        };
        if interrupted {
            anyhow::bail!(
                "the baseline {} was not written: the run was interrupted",
                path.display()
            );
        }
        let old = self.baseline.as_ref().map(|b| (b, &self.tally));
        let n = baseline::write(path, distinct, old)?;
        eprintln!(
            "{} {} to the baseline {} (`--baseline {}` fails only on others)",
            console::style(format!("{:>12}", "Wrote")).green().bold(),
            plural(n, "finding", "findings"),
            path.display(),
            path.display()
        );
        Ok(())
    }
}

/// `--gen-suppressions`: appends entries for the run's findings (of
/// `distinct` distinct ones).
fn generate_suppressions(generator: Option<Generator>, distinct: usize) -> Result<()> {
    let Some(g) = generator else {
        return Ok(());
    };
    let path = g.path().display().to_string();
    let w = g.write()?;
    if distinct == 0 {
        eprintln!(
            "{} no [[suppress]] entries to {path}: the run has no findings",
            console::style(format!("{:>12}", "Wrote")).green().bold()
        );
        return Ok(());
    }
    let mut skipped = Vec::new();
    if w.present > 0 {
        skipped.push(format!("{} covered by its entries already", w.present));
    }
    if w.not_suppressible > 0 {
        skipped.push(format!(
            "{} failed tests, timeouts or hangs, which no entry hides",
            w.not_suppressible
        ));
    }
    eprintln!(
        "{} {} to {path} for {} of {}{}",
        console::style(format!("{:>12}", "Wrote")).green().bold(),
        plural(w.added, "[[suppress]] entry", "[[suppress]] entries"),
        w.covered,
        plural(distinct, "distinct finding", "distinct findings"),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join("; "))
        }
    );
    Ok(())
}
