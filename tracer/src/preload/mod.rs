//! The guard allocator that is preloaded into every test process: the
//! compiled library embedded in the binary and written out once per user,
//! and in [`protocol`] everything the supervisor and the allocator agree on
//! (its metadata table's layout, its error records, the environment
//! variables that steer it).

pub mod protocol;

use std::io::Write;
use std::path::PathBuf;

/// The compiled guard allocator (empty on platforms that cannot trace).
pub const GUARD_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libffi_check_guard.so"));

/// Writes the allocator to a private, content-addressed path (once per
/// content; concurrent runs are safe: write to a temporary file, then
/// rename) and returns that path, for `LD_PRELOAD`.
pub fn install() -> std::io::Result<PathBuf> {
    let hash = crate::hash::fnv1a(GUARD_SO);
    let dir = cache_dir();
    let path = dir.join(format!("guard-{hash:016x}.so"));
    if std::fs::read(&path).is_ok_and(|b| b == GUARD_SO) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = dir.join(format!("guard-{hash:016x}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(GUARD_SO)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `$XDG_CACHE_HOME/cargo-ffi-check`, `~/.cache/cargo-ffi-check`, or a
/// per-user directory under the temporary directory.
fn cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("cargo-ffi-check");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/cargo-ffi-check");
    }
    // SAFETY: getuid has no preconditions.
    #[cfg(unix)]
    let uid = unsafe { libc::getuid() };
    #[cfg(not(unix))]
    let uid = 0;
    std::env::temp_dir().join(format!("cargo-ffi-check-{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_under_a_content_address() {
        let dir = std::env::temp_dir().join(format!("ffc-install-test-{}", std::process::id()));
        std::env::set_var("XDG_CACHE_HOME", &dir);
        let a = install().unwrap();
        let b = install().unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), GUARD_SO);
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("guard-"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
