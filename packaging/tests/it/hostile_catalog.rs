//! Malformed `catalog.toml` and `catalog.lock` files beyond the unit tests in `catalog.rs`: each
//! is refused with `file:line: message` naming what was expected and what was found, and no
//! input, however broken, makes the parsers panic.

use std::path::Path;

use packaging::catalog::{Catalog, Lock};
use proptest::prelude::*;

const GOOD: &str = r#"release = "2.0.1-2072"

[[artifact]]
name = "scaleio-sds-ubuntu14"
component = "sds"
platform = "ubuntu14"
version = "2.0-12000.122"
file = "EMC-ScaleIO-sds-2.0-12000.122.Ubuntu.14.04.x86_64.deb"
urls = ["https://example.com/sds.deb"]
"#;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn good_lock() -> String {
    format!("[[artifact]]\nname = \"scaleio-sds-ubuntu14\"\nsha256 = \"{SHA}\"\nsize = 10\n")
}

fn catalog_err(text: &str) -> String {
    Catalog::parse(text, Path::new("catalog.toml")).expect_err("must be refused").to_string()
}

fn lock_err(text: &str) -> String {
    Lock::parse(text, Path::new("catalog.lock")).expect_err("must be refused").to_string()
}

/// `text` is refused at `file:line` and the message holds every needle.
fn check(err: &str, at: &str, needles: &[&str]) {
    assert!(err.starts_with(&format!("{at}: ")), "expected the error at {at}: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
}

#[test]
fn the_good_inputs_parse() {
    let catalog = Catalog::parse(GOOD, Path::new("catalog.toml")).expect("valid catalog");
    let lock = Lock::parse(&good_lock(), Path::new("catalog.lock")).expect("valid lock");
    lock.check_against(&catalog).expect("lock matches");
}

#[test]
fn catalog_fields_that_would_escape_or_break_a_bundle_are_refused_at_their_line() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("file = \"EMC", "file = \"../EMC", "catalog.toml:8", &["invalid file name", "../EMC"]),
        ("file = \"EMC", "file = \"sub/EMC", "catalog.toml:8", &["one path component"]),
        ("file = \"EMC", "file = \".EMC", "catalog.toml:8", &["invalid file name"]),
        ("release = \"2.0.1-2072\"", "release = \"2.0/1\"", "catalog.toml:1", &["invalid release"]),
        ("release = \"2.0.1-2072\"", "release = \"\"", "catalog.toml:1", &["invalid release"]),
        ("version = \"2.0-12000.122\"", "version = \"  \"", "catalog.toml:7", &["empty version"]),
        (
            "https://example.com/sds.deb",
            "https:///sds.deb",
            "catalog.toml:9",
            &["url \"https:///sds.deb\" has no host"],
        ),
        ("https://example.com/sds.deb", "not a url", "catalog.toml:9", &["invalid url"]),
        (
            "https://example.com/sds.deb",
            "file:///srv/sds.deb",
            "catalog.toml:9",
            &["unsupported url scheme \"file\"", "--mirror DIR"],
        ),
        ("component = \"sds\"", "component = \"gpu\"", "catalog.toml:5", &["\"gpu\""]),
    ];
    for (from, to, at, needles) in cases {
        assert!(GOOD.contains(from), "{from}");
        check(&catalog_err(&GOOD.replacen(from, to, 1)), at, needles);
    }
}

#[test]
fn catalog_structure_errors_name_the_field() {
    let unknown = GOOD.replace("version =", "sha256 = \"x\"\nversion =");
    check(&catalog_err(&unknown), "catalog.toml:7", &["invalid toml", "sha256"]);
    let missing = GOOD.replace("version = \"2.0-12000.122\"\n", "");
    check(&catalog_err(&missing), "catalog.toml:3", &["invalid toml", "version"]);
    let wrong_type = GOOD.replace("urls = [\"https://example.com/sds.deb\"]", "urls = \"x\"");
    check(&catalog_err(&wrong_type), "catalog.toml:9", &["invalid toml"]);
    let top_level = format!("mirror = \"x\"\n{GOOD}");
    check(&catalog_err(&top_level), "catalog.toml:1", &["mirror"]);
    let no_release = GOOD.replace("release = \"2.0.1-2072\"\n", "");
    assert!(catalog_err(&no_release).contains("release"), "{}", catalog_err(&no_release));
    let dup_file = format!(
        "{GOOD}\n[[artifact]]\nname = \"other\"\ncomponent = \"sds\"\nplatform = \"rhel7\"\n\
         version = \"1\"\nfile = \"EMC-ScaleIO-sds-2.0-12000.122.Ubuntu.14.04.x86_64.deb\"\nurls = []\n"
    );
    check(&catalog_err(&dup_file), "catalog.toml:16", &["duplicate file name", "line 4"]);
}

#[test]
fn lock_errors_carry_file_and_line() {
    let good = good_lock();
    check(&lock_err(&good.replace("size = 10", "size = -1")), "catalog.lock:4", &["invalid toml"]);
    check(
        &lock_err(&good.replace("size = 10", "size = \"10\"")),
        "catalog.lock:4",
        &["invalid toml"],
    );
    check(
        &lock_err(&good.replace(SHA, &SHA[..63])),
        "catalog.lock:3",
        &["bad sha256", "expected 64 lowercase hex digits"],
    );
    check(
        &lock_err(&good.replace("size = 10", "size = 10\nurl = \"x\"")),
        "catalog.lock:5",
        &["invalid toml", "url"],
    );
    let twice = format!("{good}\n{good}");
    check(&lock_err(&twice), "catalog.lock:7", &["duplicate lock entry", "first on line 2"]);
    check(&lock_err("[[artifact]]\nname = \"x\"\n"), "catalog.lock:1", &["invalid toml", "sha256"]);
}

#[test]
fn a_stale_lock_entry_points_at_the_lock_command() {
    let catalog = Catalog::parse(GOOD, Path::new("catalog.toml")).unwrap();
    let stale = good_lock().replace("scaleio-sds-ubuntu14", "scaleio-sds-rhel6");
    let lock = Lock::parse(&stale, Path::new("catalog.lock")).unwrap();
    let err = lock.check_against(&catalog).unwrap_err().to_string();
    check(&err, "catalog.lock:2", &["\"scaleio-sds-rhel6\"", "cargo xtask bundle lock"]);
}

#[test]
fn unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("catalog.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, b'r']).unwrap();
    let err = Catalog::load(&binary).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:1: cannot read file", binary.display())), "{err}");
    let missing = dir.path().join("absent.toml");
    let err = Catalog::load(&missing).unwrap_err().to_string();
    assert!(err.contains("absent.toml:1: cannot read file"), "{err}");
    // A missing lock is an empty lock (nothing pinned yet), not an error.
    assert!(Lock::load(&dir.path().join("catalog.lock")).unwrap().pins.is_empty());
    let lock_dir = dir.path().join("lockdir");
    std::fs::create_dir(&lock_dir).unwrap();
    assert!(Lock::load(&lock_dir).unwrap_err().to_string().contains("cannot read file"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Mangling any byte range of a good file never panics, and any error points at a line that
    /// exists in the file.
    #[test]
    fn mangled_inputs_never_panic_and_errors_point_into_the_file(
        start in 0usize..400,
        len in 0usize..40,
        junk in "[\\[\\]=\"a-z0-9 \\n.#-]{0,12}",
        lock in any::<bool>(),
    ) {
        let base = if lock { good_lock() } else { GOOD.to_owned() };
        let start = start.min(base.len());
        let end = (start + len).min(base.len());
        if !base.is_char_boundary(start) || !base.is_char_boundary(end) {
            return Ok(());
        }
        let text = format!("{}{junk}{}", &base[..start], &base[end..]);
        let lines = text.lines().count().max(1);
        let result = if lock {
            Lock::parse(&text, Path::new("catalog.lock")).map(|_| ())
        } else {
            Catalog::parse(&text, Path::new("catalog.toml")).map(|_| ())
        };
        if let Err(e) = result {
            prop_assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Catalog::parse(&text, Path::new("catalog.toml"));
        let _ = Lock::parse(&text, Path::new("catalog.lock"));
    }
}
