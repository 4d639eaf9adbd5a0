//! Compiles the preloaded library (preload/: the guard allocator, the
//! signal-handler checks and the seeded schedule on a shared base; see
//! preload/README.md) into a shared object that the crate embeds, so that
//! installing cargo-ffi-check is all a user needs.

#[path = "preload/sources.rs"]
mod sources;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // A folder is watched with everything in it.
    println!("cargo:rerun-if-changed=preload");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let so = out.join("libffi_check_guard.so");
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target != "linux" || arch != "x86_64" {
        // Nothing to preload where nothing can be traced; embed an empty file.
        std::fs::write(&so, b"").expect("writing the placeholder");
        return;
    }
    let compiler = cc::Build::new().get_compiler();
    let status = Command::new(compiler.path())
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fvisibility=hidden",
            "-fno-stack-protector",
            "-o",
        ])
        .arg(&so)
        .args(sources::c_sources(Path::new("preload")))
        .args(["-pthread", "-ldl"])
        .arg("-lgcc_s")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the C compiler {}: {e}",
                compiler.path().display()
            )
        });
    assert!(status.success(), "compiling the preloaded library failed");
}
