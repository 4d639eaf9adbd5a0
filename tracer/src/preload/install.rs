//! Writing the embedded allocator to a file `LD_PRELOAD` can load, safely.
//!
//! The file is content-addressed (`guard-HASH.so`) and written once per
//! content in the first usable directory of: `$XDG_CACHE_HOME/cargo-ffi-check`,
//! `~/.cache/cargo-ffi-check`, `$XDG_RUNTIME_DIR/cargo-ffi-check`, and a
//! private `cargo-ffi-check-UID` under the temporary directory. A directory
//! is usable when its path can be written in `LD_PRELOAD` (no space or
//! colon, which separate its entries and cannot be escaped), it is ours and
//! writable by nobody else, and its file system allows executing mapped
//! code. An existing file is used only if it is ours, writable by nobody
//! else and holds exactly the embedded library; otherwise it is replaced.
//! New files are written under a name no other writer can be using and
//! renamed into place, so concurrent runs are safe.

use super::GUARD_SO;
use std::ffi::CString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Installs the allocator and returns its path, for `LD_PRELOAD`.
pub fn install() -> io::Result<PathBuf> {
    install_in(&candidates())
}

/// The directories to try, in order.
fn candidates() -> Vec<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut dirs = Vec::new();
    dirs.extend(var("XDG_CACHE_HOME").map(|d| d.join("cargo-ffi-check")));
    dirs.extend(var("HOME").map(|d| d.join(".cache/cargo-ffi-check")));
    dirs.extend(var("XDG_RUNTIME_DIR").map(|d| d.join("cargo-ffi-check")));
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    dirs.push(std::env::temp_dir().join(format!("cargo-ffi-check-{uid}")));
    dirs.push(PathBuf::from(format!("/tmp/cargo-ffi-check-{uid}")));
    dirs
}

/// Installs in the first usable directory of `dirs`; the error says why
/// each was not.
pub fn install_in(dirs: &[PathBuf]) -> io::Result<PathBuf> {
    let mut why = Vec::new();
    for dir in dirs {
        match install_at(dir) {
            Ok(path) => return Ok(path),
            Err(e) => why.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(io::Error::other(format!(
        "no directory to install the guard allocator in ({})",
        why.join("; ")
    )))
}

/// Ours (this user's) and writable by nobody else.
fn private(meta: &fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions.
    meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o022 == 0
}

fn install_at(dir: &Path) -> io::Result<PathBuf> {
    let text = dir.as_os_str().as_bytes();
    if text.contains(&b' ') || text.contains(&b':') {
        return Err(io::Error::other(
            "LD_PRELOAD cannot name a path with a space or colon",
        ));
    }
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other("not a directory"));
    }
    if !private(&meta) {
        // SAFETY: geteuid has no preconditions.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(io::Error::other("owned by another user"));
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    if noexec(dir)? {
        return Err(io::Error::other(
            "its file system does not allow executing code (noexec)",
        ));
    }
    let path = dir.join(format!("guard-{:016x}.so", crate::hash::fnv1a(GUARD_SO)));
    if let Ok(meta) = fs::symlink_metadata(&path) {
        let good = meta.is_file() && private(&meta) && fs::read(&path).is_ok_and(|b| b == GUARD_SO);
        if good {
            return Ok(path);
        }
        fs::remove_file(&path)?;
    }
    let tmp = dir.join(format!("guard.{}.{}.tmp", std::process::id(), unique()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(GUARD_SO)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// A number no other call in this process has had.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (NEXT.fetch_add(1, Ordering::Relaxed) << 32) | u64::from(nanos)
}

/// Whether the file system holding `dir` is mounted noexec.
fn noexec(dir: &Path) -> io::Result<bool> {
    let c = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs is plain data the call fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_flag & libc::ST_NOEXEC != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ffc-install-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn installs_once_under_a_content_address() {
        let dir = scratch("once");
        let a = install_in(&[dir.join("cache")]).unwrap();
        let b = install_in(&[dir.join("cache")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(fs::read(&a).unwrap(), GUARD_SO);
        let meta = fs::metadata(&a).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o500);
        assert_eq!(
            fs::metadata(dir.join("cache")).unwrap().mode() & 0o777,
            0o700
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn unusable_directories_fall_back_to_the_next() {
        let dir = scratch("fallback");
        let file = dir.join("a-file");
        fs::write(&file, b"").unwrap();
        let spaced = dir.join("my cache");
        let coloned = dir.join("a:b");
        let good = dir.join("good");
        let got = install_in(&[file.join("sub"), spaced, coloned, good.clone()]).unwrap();
        assert!(got.starts_with(&good), "{}", got.display());
        let err = install_in(&[file.join("sub")]).unwrap_err().to_string();
        assert!(err.contains("no directory to install"), "{err}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_tampered_file_or_a_shared_directory_is_made_private_again() {
        let dir = scratch("tampered");
        let cache = dir.join("cache");
        let path = install_in(std::slice::from_ref(&cache)).unwrap();
        // Someone made the directory writable for all and replaced the file.
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        fs::write(&path, b"not the allocator").unwrap();
        let again = install_in(std::slice::from_ref(&cache)).unwrap();
        assert_eq!(again, path);
        assert_eq!(fs::read(&path).unwrap(), GUARD_SO);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o500);
        assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
        let _ = fs::remove_dir_all(dir);
    }
}
