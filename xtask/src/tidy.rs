//! Tidy checks over the whole source tree, run under `cargo test` (rust-analyzer style).

use std::path::{Path, PathBuf};

use crate::project_root;

/// The only files allowed to construct a process command directly: each crate's one subprocess constructor.
/// Add a path here only together with the constructor it names.
const SUBPROCESS_CONSTRUCTORS: &[&str] = &[
    "packaging/tests/it/archive.rs",
    "scheduler/tests/it/support.rs",
    "tests/src/emulator/process.rs",
    "tests/tests/it/demo_assets.rs",
    "tests/src/fixtures/packages.rs",
    "executor/src/host.rs",
];

fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" || name.starts_with("target-") {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&project_root(), &mut out);
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root()).unwrap_or(path).display().to_string()
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|path| relative(&path))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files must start with a `//!` line saying what lives there: {offenders:#?}"
    );
}

#[test]
fn subprocesses_are_built_by_one_constructor() {
    let needle = ["Command", "::new"].concat();
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).unwrap_or_default().contains(&needle))
        .map(|path| relative(&path))
        .filter(|path| !SUBPROCESS_CONSTRUCTORS.contains(&path.as_str()))
        .collect();
    assert!(
        offenders.is_empty(),
        "`{needle}` outside the subprocess constructors {SUBPROCESS_CONSTRUCTORS:?}: {offenders:#?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let needle = ["#[", "ignore"].concat();
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).unwrap_or_default().contains(&needle))
        .map(|path| relative(&path))
        .collect();
    assert!(
        offenders.is_empty(),
        "tests are never ignored (use the slow tier instead): {offenders:#?}"
    );
}

#[test]
fn the_tidy_walk_sees_the_workspace() {
    // Guards the checks above against passing vacuously on an empty walk.
    let files = rust_files();
    assert!(
        files.iter().any(|p| p.ends_with("xtask/src/tidy.rs")),
        "walk found {} files",
        files.len()
    );
}
