//! The reader side: hostile archives are refused before anything lands, and an extracted bundle
//! is verified file by file (including the symlink the real Mesos fetcher would create).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use packaging::build::build_bundles;
use packaging::catalog::Platform;
use packaging::fetch::NoProgress;
use packaging::reader::{VerifyError, extract_bundle, verify_bundle_file, verify_extracted};

use crate::fixture::{Item, bytes, catalog, config, files_under, lock, mirror};

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
}

/// A `.tar.gz` with exactly these raw entries (paths written byte for byte, unchecked).
fn hostile(path: &Path, entries: &[Entry]) {
    let mut tar = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match e {
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, b"")
            }
            Entry::File(n, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                (n, data)
            }
            Entry::Symlink(n, target) | Entry::Hardlink(n, target) => {
                let kind = if matches!(e, Entry::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                h.set_entry_type(kind);
                h.set_mode(0o777);
                h.set_link_name(target).unwrap();
                (n, b"")
            }
            Entry::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o644);
                (n, b"")
            }
        };
        // Raw name bytes: `set_path` would refuse `..` and absolute paths.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap();
}

fn refused(entries: &[Entry]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("evil.tar.gz");
    hostile(&archive, entries);
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let err = extract_bundle(&archive, &dest).expect_err("hostile archive must be refused");
    assert!(files_under(&dest).is_empty(), "something landed: {:?}", files_under(&dest));
    assert!(std::fs::read_dir(&dest).unwrap().next().is_none(), "staging left behind");
    assert!(!dir.path().join("escaped").exists());
    err.to_string()
}

#[test]
fn hostile_archives_are_refused_and_nothing_lands() {
    let top = "scaleio-bundle-1-ubuntu14";
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![Entry::Dir(top), Entry::File("scaleio-bundle-1-ubuntu14/../escaped", 0o644, b"x")],
            "`..`",
        ),
        (vec![Entry::File("/tmp/escaped-abs", 0o644, b"x")], "absolute path"),
        (
            vec![Entry::Dir(top), Entry::Symlink("scaleio-bundle-1-ubuntu14/link", "/etc/passwd")],
            "link to \"/etc/passwd\"",
        ),
        (
            vec![Entry::Dir(top), Entry::Hardlink("scaleio-bundle-1-ubuntu14/hard", "/etc/passwd")],
            "a bundle holds no links",
        ),
        (
            vec![Entry::Dir(top), Entry::File("scaleio-bundle-1-ubuntu14/suid", 0o4755, b"x")],
            "setuid",
        ),
        (vec![Entry::Dir(top), Entry::Fifo("scaleio-bundle-1-ubuntu14/fifo")], "FIFOs"),
        (vec![Entry::Dir(top), Entry::Dir("second-top")], "exactly one is allowed"),
    ];
    for (entries, needle) in cases {
        let msg = refused(&entries);
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }
}

pub(crate) async fn good_bundle(dir: &Path) -> std::path::PathBuf {
    let item = Item::new("pkg", "ubuntu14", bytes(30, 10_000));
    let mut cfg = config(dir);
    cfg.mirrors = vec![mirror(&dir.join("m"), std::slice::from_ref(&item))];
    let out = dir.join("out");
    let b = build_bundles(
        &catalog(std::slice::from_ref(&item)),
        &lock(std::slice::from_ref(&item)),
        &[Platform::Ubuntu14],
        &cfg,
        &out,
        0,
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    out.join(&b[0].file)
}

#[tokio::test]
async fn extraction_then_verification_catches_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let archive = good_bundle(dir.path()).await;
    let dest = dir.path().join("sandbox");
    std::fs::create_dir_all(&dest).unwrap();
    let bundle = extract_bundle(&archive, &dest).expect("a good bundle extracts");
    assert_eq!(bundle, dest.join("scaleio-bundle-9.9-test-ubuntu14"));
    let manifest = verify_extracted(&bundle).unwrap();
    assert_eq!(manifest.artifacts[0].name, "pkg");
    let artifact = bundle.join("artifacts/pkg.pkg");

    // What the real fetcher would extract as-is: a symlink out of the tree.
    let original = std::fs::read(&artifact).unwrap();
    std::fs::remove_file(&artifact).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &artifact).unwrap();
    let err = verify_extracted(&bundle).unwrap_err();
    assert!(matches!(err, VerifyError::Symlink { .. }), "{err}");
    assert!(err.to_string().contains("/etc/passwd"), "{err}");

    std::fs::remove_file(&artifact).unwrap();
    let err = verify_extracted(&bundle).unwrap_err();
    assert_eq!(err.to_string(), "artifacts/pkg.pkg is listed in the manifest but missing");

    let mut changed = original.clone();
    changed[0] ^= 1;
    std::fs::write(&artifact, &changed).unwrap();
    let err = verify_extracted(&bundle).unwrap_err();
    assert!(matches!(err, VerifyError::Digest { .. }), "{err}");

    std::fs::write(&artifact, &original).unwrap();
    std::fs::write(bundle.join("artifacts/extra"), b"x").unwrap();
    assert_eq!(
        verify_extracted(&bundle).unwrap_err().to_string(),
        "artifacts/extra is not listed in the manifest"
    );
    std::fs::remove_file(bundle.join("artifacts/extra")).unwrap();
    verify_extracted(&bundle).expect("restored bundle verifies again");
}

#[tokio::test]
async fn verify_bundle_file_refuses_a_renamed_or_recompressed_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let archive = good_bundle(dir.path()).await;
    verify_bundle_file(&archive).unwrap();
    // The digest in the name must be the file's.
    let renamed = archive.with_file_name("scaleio-bundle-9.9-test-ubuntu14-00000000.tar.gz");
    std::fs::copy(&archive, &renamed).unwrap();
    let err = verify_bundle_file(&renamed).unwrap_err().to_string();
    assert!(err.contains("does not carry the bundle's digest"), "{err}");
    // The same tar behind a gzip header that names a file is refused.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap()),
        &mut tar,
    )
    .unwrap();
    let named = dir.path().join("named.tar.gz");
    let mut gz = flate2::GzBuilder::new()
        .filename("bundle.tar")
        .write(std::fs::File::create(&named).unwrap(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap();
    let err = verify_bundle_file(&named).unwrap_err().to_string();
    assert!(err.contains("the gzip header carries a file name or an mtime"), "{err}");
    // A hand-made archive with the right files but a foreign owner and mode is refused.
    let sandbox = dir.path().join("sb");
    std::fs::create_dir_all(&sandbox).unwrap();
    crate::archive::run("tar", &["-xzf", &archive.display().to_string()], &sandbox);
    let repacked = dir.path().join("repacked.tar.gz");
    crate::archive::run(
        "tar",
        &[
            "--owner=1000",
            "--group=1000",
            "-czf",
            &repacked.display().to_string(),
            "scaleio-bundle-9.9-test-ubuntu14",
        ],
        &sandbox,
    );
    let err = verify_bundle_file(&repacked).unwrap_err().to_string();
    assert!(err.contains("bad bundle layout"), "{err}");
}
