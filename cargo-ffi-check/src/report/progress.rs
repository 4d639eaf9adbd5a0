//! Where live output goes: above an indicatif progress bar on a terminal,
//! or straight to stderr, line by line, elsewhere (CI).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;

/// The live output channel.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `total` jobs if `interactive`, plain lines otherwise.
    pub fn new(total: usize, interactive: bool) -> Progress {
        let bar = interactive.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12.cyan.bold} [{elapsed_precise}] {bar:30} {pos}/{len}: {msg}",
                )
                .expect("valid progress template")
                .progress_chars("=> "),
            );
            bar.set_prefix("Running");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        Progress { bar }
    }

    /// Whether a bar is shown (status lines are then left out).
    pub fn interactive(&self) -> bool {
        self.bar.is_some()
    }

    /// Prints text (one or more lines) without disturbing the bar.
    pub fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// One more job done; `message` shows the running counts.
    pub fn advance(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(message);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
