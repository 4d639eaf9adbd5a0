//! The preloaded library's folders are layers (preload/README.md): a file
//! includes only files of its own folder or of the folders below its own,
//! so no part calls back into one above it and the includes form no
//! circle. This reads every `#include "..."` under `preload/` (but its
//! tests) and checks both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Each folder and the folders it may include from (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("base", &["protocol"]),
    ("signals", &["base", "protocol"]),
    ("alloc", &["signals", "base", "protocol"]),
    ("schedule", &["signals", "base", "protocol"]),
];

fn preload() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("preload")
}

/// Every C source and header under `preload/` but its tests, relative to it.
fn files() -> Vec<PathBuf> {
    let root = preload();
    let mut found = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "c" || x == "h") {
                found.push(path.strip_prefix(&root).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// `base` joined with `rel`, with `..` resolved, relative to `preload/`.
fn resolve(base: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for part in base.join(rel).components() {
        match part {
            Component::ParentDir => {
                assert!(out.pop(), "{rel} leaves preload/ from {}", base.display());
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// The files each file includes (quoted includes only), relative to `preload/`.
fn includes() -> BTreeMap<PathBuf, Vec<PathBuf>> {
    files()
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(preload().join(&file)).unwrap();
            let dir = file.parent().unwrap().to_path_buf();
            let included = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("#include \""))
                .map(|rest| resolve(&dir, rest.trim_end_matches('"')))
                .collect();
            (file, included)
        })
        .collect()
}

fn folder(file: &Path) -> String {
    match file.components().next() {
        Some(Component::Normal(first)) if file.components().count() > 1 => {
            first.to_string_lossy().into_owned()
        }
        _ => String::new(),
    }
}

#[test]
fn every_file_of_the_preloaded_library_sits_in_a_layer() {
    let layers: BTreeSet<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
    for file in files() {
        assert!(
            layers.contains(folder(&file).as_str()),
            "{} is in no layer of preload/README.md",
            file.display()
        );
    }
}

#[test]
fn the_preloaded_library_includes_only_downwards() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut checked = 0;
    for (file, included) in includes() {
        let from = folder(&file);
        for target in included {
            assert!(
                preload().join(&target).is_file(),
                "{} includes {}, which does not exist",
                file.display(),
                target.display()
            );
            let to = folder(&target);
            assert!(
                to == from || allowed[from.as_str()].contains(&to.as_str()),
                "{} ({from}) includes {} ({to}): a layer includes only those below it",
                file.display(),
                target.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} includes found");
}

#[test]
fn the_preloaded_library_includes_form_no_circle() {
    let graph = includes();
    // Depth-first search with colours: 1 on the current path, 2 done.
    fn visit(
        node: &Path,
        graph: &BTreeMap<PathBuf, Vec<PathBuf>>,
        colour: &mut BTreeMap<PathBuf, u8>,
        path: &mut Vec<PathBuf>,
    ) {
        match colour.get(node) {
            Some(2) => return,
            Some(1) => panic!("the includes form a circle: {path:?} -> {}", node.display()),
            _ => {}
        }
        colour.insert(node.to_path_buf(), 1);
        path.push(node.to_path_buf());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, colour, path);
        }
        path.pop();
        colour.insert(node.to_path_buf(), 2);
    }
    let mut colour = BTreeMap::new();
    for file in graph.keys() {
        visit(file, &graph, &mut colour, &mut Vec::new());
    }
}
