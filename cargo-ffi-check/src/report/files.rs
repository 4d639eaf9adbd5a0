//! Writing the files a run produces (reports, baselines, suppressions).

use anyhow::{Context, Result};
use std::path::Path;

/// Writes `contents` to `path`, creating its parent directories; errors
/// name `what` was being written ("the JUnit report") and where.
pub fn write_creating_dirs(path: &Path, contents: impl AsRef<[u8]>, what: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    std::fs::write(path, contents)
        .with_context(|| format!("could not write {what} {}", path.display()))
}
