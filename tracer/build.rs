//! Compiles the preloaded library (preload/preload.c, what the parts share and
//! their start-up, preload/guard.c, the guard allocator, with
//! preload/unwind.c, its stack walker, preload/rust_alloc.c, which tells
//! Rust's allocations from C's, preload/signals.c, which finds calls that
//! are not async-signal-safe in signal handlers, and preload/schedule.c, the seeded
//! schedule) into a shared object that the
//! crate embeds, so that installing cargo-ffi-check is all a user needs.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    for file in [
        "guard.c",
        "guard.h",
        "preload.c",
        "preload.h",
        "raw.h",
        "rust_alloc.c",
        "rust_alloc.h",
        "schedule.c",
        "schedule.h",
        "signals.c",
        "signals.h",
        "unwind.c",
        "unwind.h",
    ] {
        println!("cargo:rerun-if-changed=preload/{file}");
    }
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
        .args([
            "preload/preload.c",
            "preload/guard.c",
            "preload/rust_alloc.c",
            "preload/schedule.c",
            "preload/signals.c",
            "preload/unwind.c",
            "-pthread",
            "-ldl",
        ])
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
