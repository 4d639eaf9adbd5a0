//! Building the test binaries with `cargo test --no-run` and collecting what
//! is needed to run them as `cargo test` would.

use crate::setup::cli::CargoArgs;
use anyhow::{bail, Context, Result};
use cargo_metadata::{
    Artifact, BuildScript, Message, Metadata, MetadataCommand, Package, PackageId, TargetKind,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One test executable and how to run it.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// nextest-style id: `pkg` for a library, `pkg::name` for an integration
    /// test, `pkg::bin/name`, `pkg::example/name`, `pkg::bench/name`.
    pub id: String,
    /// Path of the executable.
    pub path: PathBuf,
    /// Working directory: the package's directory, as with `cargo test`.
    pub cwd: PathBuf,
    /// Environment additions (CARGO_*, OUT_DIR, library paths).
    pub env: Vec<(OsString, OsString)>,
    /// False for `harness = false` targets: run as one job, never listed.
    pub libtest: bool,
}

/// The build failed; cargo has already printed why.
#[derive(Debug)]
pub struct BuildFailed;

impl std::fmt::Display for BuildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not compile the test binaries (cargo's errors are above)")
    }
}

impl std::error::Error for BuildFailed {}

/// The cargo executable cargo runs us with (`$CARGO`), or `cargo`.
pub fn cargo_path() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The `cargo test --no-run` arguments for the forwarded flags.
pub fn cargo_test_args(args: &CargoArgs) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["test".into(), "--no-run".into()];
    v.push("--message-format=json-render-diagnostics".into());
    let mut push = |flag: &str, value: Option<&std::ffi::OsStr>| {
        v.push(flag.into());
        if let Some(value) = value {
            v.push(value.to_owned());
        }
    };
    if let Some(p) = &args.manifest_path {
        push("--manifest-path", Some(p.as_os_str()));
    }
    for p in &args.packages {
        push("--package", Some(p.as_ref()));
    }
    if args.workspace {
        push("--workspace", None);
    }
    for p in &args.exclude {
        push("--exclude", Some(p.as_ref()));
    }
    for f in &args.features {
        push("--features", Some(f.as_ref()));
    }
    if args.all_features {
        push("--all-features", None);
    }
    if args.no_default_features {
        push("--no-default-features", None);
    }
    if args.release {
        push("--release", None);
    }
    if let Some(p) = &args.profile {
        push("--profile", Some(p.as_ref()));
    }
    if let Some(d) = &args.target_dir {
        push("--target-dir", Some(d.as_os_str()));
    }
    if args.lib {
        push("--lib", None);
    }
    if args.bins {
        push("--bins", None);
    }
    if args.tests {
        push("--tests", None);
    }
    for t in &args.test_targets {
        push("--test", Some(t.as_ref()));
    }
    v
}

/// What a build produced.
pub struct Built {
    /// The test binaries.
    pub binaries: Vec<TestBinary>,
    /// The workspace root (paths in reports are shown relative to it).
    pub root: PathBuf,
}

/// Builds the test binaries. `Err` is [`BuildFailed`] when cargo failed
/// (its diagnostics went to stderr), or another error when cargo could not
/// be run at all.
pub fn build(args: &CargoArgs, verbose: u8) -> Result<Built> {
    let cargo = cargo_path();
    let cargo_args = cargo_test_args(args);
    if verbose >= 2 {
        eprintln!(
            "     Running `{} {}`",
            cargo.to_string_lossy(),
            join(&cargo_args)
        );
    }
    let mut child = Command::new(&cargo)
        .args(&cargo_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "could not run `{}`; is cargo installed?",
                cargo.to_string_lossy()
            )
        })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut tests = Vec::new();
    let mut bins: Vec<Artifact> = Vec::new();
    let mut scripts: HashMap<PackageId, BuildScript> = HashMap::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        match message.context("reading cargo's JSON messages")? {
            Message::CompilerArtifact(a) if a.executable.is_some() => {
                if a.profile.test {
                    tests.push(a);
                } else if a.target.kind.contains(&TargetKind::Bin) {
                    bins.push(a);
                }
            }
            Message::BuildScriptExecuted(s) => {
                scripts.insert(s.package_id.clone(), s);
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        return Err(BuildFailed.into());
    }
    let metadata = metadata(args)?;
    let context = BuildContext::new(&metadata, &bins, &scripts);
    Ok(Built {
        binaries: tests
            .iter()
            .map(|a| context.binary(a))
            .collect::<Result<_>>()?,
        root: metadata.workspace_root.clone().into_std_path_buf(),
    })
}

fn join(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn metadata(args: &CargoArgs) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_path()).no_deps();
    if let Some(p) = &args.manifest_path {
        cmd.manifest_path(p);
    }
    cmd.exec().context("running `cargo metadata`")
}

/// What is shared by all binaries of a build.
struct BuildContext<'a> {
    packages: HashMap<&'a PackageId, &'a Package>,
    bins: &'a [Artifact],
    scripts: &'a HashMap<PackageId, BuildScript>,
    target_dir: PathBuf,
    sysroot_lib: Option<PathBuf>,
}

impl<'a> BuildContext<'a> {
    fn new(
        metadata: &'a Metadata,
        bins: &'a [Artifact],
        scripts: &'a HashMap<PackageId, BuildScript>,
    ) -> BuildContext<'a> {
        BuildContext {
            packages: metadata.packages.iter().map(|p| (&p.id, p)).collect(),
            bins,
            scripts,
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
            sysroot_lib: sysroot_lib(),
        }
    }

    fn binary(&self, a: &Artifact) -> Result<TestBinary> {
        let Some(pkg) = self.packages.get(&a.package_id) else {
            bail!(
                "cargo built {} for a package `cargo metadata` does not know",
                a.target.name
            );
        };
        let path = a
            .executable
            .clone()
            .expect("test artifacts are executables")
            .into_std_path_buf();
        let cwd = pkg
            .manifest_path
            .parent()
            .map(|p| p.to_path_buf().into_std_path_buf())
            .unwrap_or_default();
        Ok(TestBinary {
            id: binary_id(&pkg.name, &a.target.name, &a.target.kind),
            env: self.env(pkg, a, &path),
            libtest: uses_libtest(
                pkg.manifest_path.as_std_path(),
                &a.target.name,
                &a.target.kind,
            ),
            path,
            cwd,
        })
    }

    /// The variables `cargo test` sets when it runs a test binary.
    fn env(&self, pkg: &Package, a: &Artifact, exe: &Path) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        let mut set = |k: &str, v: String| env.push((k.into(), v.into()));
        let v = &pkg.version;
        set("CARGO", cargo_path().to_string_lossy().into_owned());
        set("CARGO_MANIFEST_PATH", pkg.manifest_path.to_string());
        set(
            "CARGO_MANIFEST_DIR",
            pkg.manifest_path
                .parent()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        );
        set("CARGO_PKG_NAME", pkg.name.to_string());
        set("CARGO_PKG_VERSION", v.to_string());
        set("CARGO_PKG_VERSION_MAJOR", v.major.to_string());
        set("CARGO_PKG_VERSION_MINOR", v.minor.to_string());
        set("CARGO_PKG_VERSION_PATCH", v.patch.to_string());
        set("CARGO_PKG_VERSION_PRE", v.pre.to_string());
        set("CARGO_PKG_AUTHORS", pkg.authors.join(":"));
        set(
            "CARGO_PKG_DESCRIPTION",
            pkg.description.clone().unwrap_or_default(),
        );
        set(
            "CARGO_PKG_HOMEPAGE",
            pkg.homepage.clone().unwrap_or_default(),
        );
        set(
            "CARGO_PKG_REPOSITORY",
            pkg.repository.clone().unwrap_or_default(),
        );
        set("CARGO_PKG_LICENSE", pkg.license.clone().unwrap_or_default());
        set(
            "CARGO_PKG_LICENSE_FILE",
            pkg.license_file
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        );
        set(
            "CARGO_PKG_RUST_VERSION",
            pkg.rust_version
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        );
        set(
            "CARGO_PKG_README",
            pkg.readme
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        );
        set("CARGO_CRATE_NAME", a.target.name.replace('-', "_"));
        for b in self.bins.iter().filter(|b| b.package_id == pkg.id) {
            if let Some(exe) = &b.executable {
                set(&format!("CARGO_BIN_EXE_{}", b.target.name), exe.to_string());
            }
        }
        let script = self.scripts.get(&pkg.id);
        if let Some(s) = script {
            set("OUT_DIR", s.out_dir.to_string());
        }
        env.push(("LD_LIBRARY_PATH".into(), self.library_path(script, exe)));
        env
    }

    /// Like cargo: the build scripts' search paths inside the target
    /// directory, the deps directory, the sysroot, then the inherited value.
    fn library_path(&self, script: Option<&BuildScript>, exe: &Path) -> OsString {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for p in script.into_iter().flat_map(|s| &s.linked_paths) {
            let p = p.as_str();
            let p = p.split_once('=').map_or(p, |(_, path)| path);
            let p = PathBuf::from(p);
            if p.starts_with(&self.target_dir) {
                dirs.push(p);
            }
        }
        if let Some(deps) = exe.parent() {
            dirs.push(deps.to_path_buf());
            if let Some(profile) = deps.parent() {
                dirs.push(profile.to_path_buf());
            }
        }
        dirs.extend(self.sysroot_lib.clone());
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            dirs.extend(std::env::split_paths(&old));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }
}

fn sysroot_lib() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let root = String::from_utf8(out.stdout).ok()?;
    Some(Path::new(root.trim()).join("lib"))
}

/// The nextest binary id of a target.
pub fn binary_id(package: &str, target: &str, kinds: &[TargetKind]) -> String {
    let is = |k: TargetKind| kinds.contains(&k);
    if is(TargetKind::Lib)
        || is(TargetKind::RLib)
        || is(TargetKind::ProcMacro)
        || is(TargetKind::CDyLib)
        || is(TargetKind::DyLib)
        || is(TargetKind::StaticLib)
    {
        package.to_string()
    } else if is(TargetKind::Test) {
        format!("{package}::{target}")
    } else if is(TargetKind::Bin) {
        format!("{package}::bin/{target}")
    } else if is(TargetKind::Example) {
        format!("{package}::example/{target}")
    } else if is(TargetKind::Bench) {
        format!("{package}::bench/{target}")
    } else {
        format!("{package}::{target}")
    }
}

/// False if the manifest declares `harness = false` for this target.
/// Auto-discovered targets always use libtest.
pub fn uses_libtest(manifest: &Path, target: &str, kinds: &[TargetKind]) -> bool {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return true;
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return true;
    };
    !declares_no_harness(&doc, target, kinds)
}

fn declares_no_harness(doc: &toml::Table, target: &str, kinds: &[TargetKind]) -> bool {
    let no_harness = |t: &toml::Value| t.get("harness").and_then(|h| h.as_bool()) == Some(false);
    let named = |t: &&toml::Value| {
        t.get("name")
            .and_then(|n| n.as_str())
            .is_some_and(|n| n == target || n.replace('-', "_") == target.replace('-', "_"))
    };
    let section = |key: &str| {
        doc.get(key)
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().filter(named).any(no_harness))
    };
    if kinds.iter().any(|k| {
        matches!(
            k,
            TargetKind::Lib | TargetKind::RLib | TargetKind::ProcMacro
        )
    }) {
        return doc.get("lib").is_some_and(no_harness);
    }
    (kinds.contains(&TargetKind::Test) && section("test"))
        || (kinds.contains(&TargetKind::Bin) && section("bin"))
        || (kinds.contains(&TargetKind::Bench) && section("bench"))
        || (kinds.contains(&TargetKind::Example) && section("example"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_ids_follow_nextest() {
        assert_eq!(binary_id("foo", "foo", &[TargetKind::Lib]), "foo");
        assert_eq!(binary_id("foo", "it", &[TargetKind::Test]), "foo::it");
        assert_eq!(binary_id("foo", "cli", &[TargetKind::Bin]), "foo::bin/cli");
    }

    #[test]
    fn finds_harness_false_targets() {
        let doc: toml::Table = r#"
            [lib]
            harness = true
            [[test]]
            name = "plain"
            harness = false
            [[test]]
            name = "normal"
        "#
        .parse()
        .unwrap();
        assert!(declares_no_harness(&doc, "plain", &[TargetKind::Test]));
        assert!(!declares_no_harness(&doc, "normal", &[TargetKind::Test]));
        assert!(!declares_no_harness(&doc, "plain", &[TargetKind::Bin]));
        assert!(!declares_no_harness(&doc, "x", &[TargetKind::Lib]));
    }

    #[test]
    fn forwards_cargo_flags() {
        let args = CargoArgs {
            packages: vec!["a".into()],
            release: true,
            test_targets: vec!["it".into()],
            ..Default::default()
        };
        let v: Vec<String> = cargo_test_args(&args)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            v,
            [
                "test",
                "--no-run",
                "--message-format=json-render-diagnostics",
                "--package",
                "a",
                "--release",
                "--test",
                "it"
            ]
        );
    }
}
