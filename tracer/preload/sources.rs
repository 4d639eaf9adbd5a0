//! The preloaded library's C sources: every `.c` file under `preload/`
//! but its tests. Shared by `build.rs`, which compiles the library, and by
//! the tests that build it themselves (`tests/preloaded`), so that both
//! always compile the same files.

use std::path::{Path, PathBuf};

/// The `.c` files under `dir` (the `preload/` folder), its `tests/`
/// folder left out, in a stable order.
pub fn c_sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
                .path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "c") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
