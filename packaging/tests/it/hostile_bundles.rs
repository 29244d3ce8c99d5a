//! Hostile bundle archives beyond `reader.rs`'s basic cases: devices, relative and in-tree links,
//! GNU/PAX extension headers smuggling `..`, gzip bombs and bogus sizes bounded by `Limits`,
//! corrupt and truncated gzip, failures after files were written, and concurrent extractions.
//! Each is refused with a clear error and leaves nothing behind in the destination.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use packaging::reader::{
    Limits, VerifyError, extract_bundle, extract_bundle_with_limits, verify_bundle_file,
    verify_extracted,
};

use crate::fixture::files_under;

const TOP: &str = "scaleio-bundle-1-ubuntu14";

/// One raw tar entry: every field written as given (no path checks), `announced` may differ from
/// the data's length.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    mode: u32,
    link: &'a str,
    announced: u64,
    data: &'a [u8],
}

impl<'a> Raw<'a> {
    fn file(name: &'a str, data: &'a [u8]) -> Self {
        Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Regular,
            mode: 0o644,
            link: "",
            announced: data.len() as u64,
            data,
        }
    }

    fn dir(name: &'a str) -> Self {
        Raw { kind: tar::EntryType::Directory, mode: 0o755, ..Raw::file(name, b"") }
    }

    fn of(name: &'a str, kind: tar::EntryType, mode: u32) -> Self {
        Raw { kind, mode, ..Raw::file(name, b"") }
    }

    fn link(name: &'a str, kind: tar::EntryType, target: &'a str) -> Self {
        Raw { kind, mode: 0o777, link: target, ..Raw::file(name, b"") }
    }
}

fn append(tar: &mut Vec<u8>, e: &Raw) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(e.kind);
    h.set_mode(e.mode);
    if !e.link.is_empty() {
        h.set_link_name(e.link).unwrap();
    }
    let raw = &mut h.as_old_mut().name;
    raw[..e.name.len()].copy_from_slice(e.name);
    h.set_size(e.announced);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(e.data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

/// The tar bytes of `entries`, with the end-of-archive blocks.
fn tar_of(entries: &[Raw]) -> Vec<u8> {
    let mut tar = Vec::new();
    for e in entries {
        append(&mut tar, e);
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

fn gzip(path: &Path, tar: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(tar).unwrap();
    gz.finish().unwrap();
}

/// Extracts `archive` into a fresh `dest` with `limits`; asserts the refusal left nothing behind
/// (no bundle directory, no staging directory) and returns the error.
fn refused_with(archive: &Path, limits: Limits) -> VerifyError {
    let dest = archive.with_extension("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let err = extract_bundle_with_limits(archive, &dest, limits)
        .expect_err("a hostile archive must be refused");
    assert!(files_under(&dest).is_empty(), "something landed: {:?}", files_under(&dest));
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "staging or directories left behind: {left:?}");
    err
}

fn refused(entries: &[Raw]) -> VerifyError {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("evil.tar.gz");
    gzip(&archive, &tar_of(entries));
    let err = refused_with(&archive, Limits::DEFAULT);
    // The verifier, which never extracts, refuses the same archive.
    assert!(verify_bundle_file(&archive).is_err(), "verify_bundle_file accepted it");
    assert!(!dir.path().join("escaped").exists());
    err
}

fn assert_contains(err: &VerifyError, needle: &str) {
    let msg = err.to_string();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

#[test]
fn device_entries_are_refused() {
    for kind in [tar::EntryType::Char, tar::EntryType::Block] {
        let name = format!("{TOP}/dev-node");
        let err = refused(&[Raw::dir(TOP), Raw::of(&name, kind, 0o644)]);
        assert!(matches!(err, VerifyError::UnsafeEntry { .. }), "{err}");
        assert_contains(&err, "devices, FIFOs and others are refused");
        assert_contains(&err, "dev-node");
    }
}

#[test]
fn links_are_refused_whatever_they_point_at() {
    let inside = format!("{TOP}/artifacts/a.deb");
    let link = format!("{TOP}/artifacts/b.deb");
    let cases = [
        Raw::link(&link, tar::EntryType::Symlink, "../../../escaped"),
        Raw::link(&link, tar::EntryType::Symlink, "a.deb"),
        Raw::link(&link, tar::EntryType::Link, &inside),
    ];
    for case in cases {
        let target = case.link.to_owned();
        let err = refused(&[
            Raw::dir(TOP),
            Raw::dir(&format!("{TOP}/artifacts")),
            Raw::file(&inside, b"package"),
            case,
        ]);
        assert_contains(&err, "a bundle holds no links");
        assert_contains(&err, &format!("{target:?}"));
    }
}

#[test]
fn setgid_and_sticky_modes_are_refused() {
    for mode in [0o2755, 0o1755, 0o6755] {
        let name = format!("{TOP}/tool");
        let err = refused(&[Raw::dir(TOP), Raw { mode, ..Raw::file(&name, b"x") }]);
        assert_contains(&err, &format!("mode {mode:o} has setuid, setgid or sticky bits"));
    }
}

#[test]
fn extension_headers_cannot_smuggle_a_path() {
    // A GNU long name and a PAX `path` record each rename the next entry to `../escaped`; a tar
    // reader that honoured them would write outside the destination.
    let longname = b"../escaped\0";
    let pax_record = b"19 path=../escaped\n";
    for (kind, data) in
        [(tar::EntryType::GNULongName, &longname[..]), (tar::EntryType::XHeader, &pax_record[..])]
    {
        let ext = Raw {
            name: b"././@LongLink",
            kind,
            mode: 0o644,
            link: "",
            announced: data.len() as u64,
            data,
        };
        let name = format!("{TOP}/innocent");
        let err = refused(&[Raw::dir(TOP), ext, Raw::file(&name, b"payload")]);
        assert!(matches!(err, VerifyError::UnsafeEntry { .. }), "{err}");
        assert_contains(&err, "extension header");
        assert_contains(&err, "bundles use plain ustar headers");
    }
}

#[test]
fn a_long_name_header_announcing_gigabytes_is_refused_before_it_is_read() {
    // Without the check, a tar reader buffers a long-name header's data whole: 2 GiB of zeros
    // that gzip squeezes to 2 MiB would become 2 GiB of memory. The data here is not even there.
    let ext = Raw {
        name: b"././@LongLink",
        kind: tar::EntryType::GNULongName,
        mode: 0o644,
        link: "",
        announced: 2 << 30,
        data: b"",
    };
    let err = refused(&[Raw::dir(TOP), ext]);
    assert_contains(&err, "2147483648 bytes");
}

#[test]
fn an_entry_announcing_a_terabyte_is_refused_before_any_byte_is_written() {
    let name = format!("{TOP}/huge");
    let entry = Raw { announced: 1 << 40, ..Raw::file(&name, b"only a few bytes follow") };
    let err = refused(&[Raw::dir(TOP), entry]);
    assert!(matches!(err, VerifyError::TooLarge { .. }), "{err}");
    assert_contains(&err, "an entry of 1099511627776 bytes");
    assert_contains(&err, "over the limit of 4294967296 bytes");
    assert_contains(&err, "gzip bomb");
    assert_contains(&err, "huge");
}

#[test]
fn a_gzip_bomb_stops_at_the_size_limit() {
    // 64 MiB of zeros gzip to about 64 KiB; with a 1 MiB limit the extraction stops at the
    // header and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bomb.tar.gz");
    let zeros = vec![0u8; 64 << 20];
    let name = format!("{TOP}/artifacts/zeros.deb");
    let artifacts = format!("{TOP}/artifacts");
    gzip(&archive, &tar_of(&[Raw::dir(TOP), Raw::dir(&artifacts), Raw::file(&name, &zeros)]));
    let compressed = std::fs::metadata(&archive).unwrap().len();
    assert!(compressed < 1 << 20, "the bomb is small on disk ({compressed} bytes)");
    let limits = Limits { max_unpacked_bytes: 1 << 20, max_entries: 100 };
    let err = refused_with(&archive, limits);
    assert!(matches!(err, VerifyError::TooLarge { .. }), "{err}");
    assert_contains(&err, "zeros.deb");
    assert_contains(&err, &format!("an entry of {} bytes", 64 << 20));
    assert_contains(&err, "over the limit of 1048576 bytes");
}

#[test]
fn too_many_entries_are_refused() {
    let names: Vec<String> = (0..20).map(|i| format!("{TOP}/f{i:02}")).collect();
    let mut entries = vec![Raw::dir(TOP)];
    entries.extend(names.iter().map(|n| Raw::file(n, b"x")));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("many.tar.gz");
    gzip(&archive, &tar_of(&entries));
    let err = refused_with(&archive, Limits { max_unpacked_bytes: 1 << 30, max_entries: 10 });
    assert_contains(&err, "more than 10 entries");
    assert_contains(&err, "f09");
}

#[test]
fn corrupt_and_truncated_gzip_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let name = format!("{TOP}/artifacts/a.deb");
    let artifacts = format!("{TOP}/artifacts");
    let good = dir.path().join("good.tar.gz");
    gzip(&good, &tar_of(&[Raw::dir(TOP), Raw::dir(&artifacts), Raw::file(&name, &data)]));
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = refused_with(&truncated, Limits::DEFAULT);
    assert!(matches!(err, VerifyError::Io { .. }), "{err}");
    assert!(err.to_string().contains("truncated.tar.gz"), "{err}");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    for b in &mut flipped[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let corrupt = dir.path().join("corrupt.tar.gz");
    std::fs::write(&corrupt, &flipped).unwrap();
    let err = refused_with(&corrupt, Limits::DEFAULT);
    assert!(err.to_string().contains("corrupt.tar.gz"), "{err}");

    let garbage = dir.path().join("garbage.tar.gz");
    std::fs::write(&garbage, b"this is not gzip at all").unwrap();
    let err = refused_with(&garbage, Limits::DEFAULT);
    assert!(err.to_string().contains("garbage.tar.gz"), "{err}");
    let err = verify_bundle_file(&garbage).unwrap_err();
    assert!(err.to_string().contains("not a gzip"), "{err}");
}

#[test]
fn a_hostile_entry_after_real_files_removes_what_was_written() {
    let data = vec![7u8; 300_000];
    let a = format!("{TOP}/artifacts/a.deb");
    let b = format!("{TOP}/artifacts/b.deb");
    let artifacts = format!("{TOP}/artifacts");
    let err = refused(&[
        Raw::dir(TOP),
        Raw::dir(&artifacts),
        Raw::file(&a, &data),
        Raw::file(&b, &data),
        Raw::file("scaleio-bundle-1-ubuntu14/../escaped", b"x"),
    ]);
    assert_contains(&err, "`..`");
}

#[test]
fn an_archive_that_unpacks_but_does_not_verify_leaves_nothing() {
    // Safe entries, but no manifest: verification fails after extraction, and the staging tree
    // with the written file is removed.
    let name = format!("{TOP}/artifacts/a.deb");
    let artifacts = format!("{TOP}/artifacts");
    let err = refused(&[Raw::dir(TOP), Raw::dir(&artifacts), Raw::file(&name, b"package")]);
    assert!(matches!(err, VerifyError::Layout(_)), "{err}");
    assert_contains(&err, "no manifest.json in \"scaleio-bundle-1-ubuntu14\"");
}

async fn real_bundle(dir: &Path) -> PathBuf {
    crate::reader::good_bundle(dir).await
}

#[tokio::test]
async fn an_existing_bundle_directory_is_neither_replaced_nor_touched() {
    let dir = tempfile::tempdir().unwrap();
    let archive = real_bundle(dir.path()).await;
    let dest = dir.path().join("sandbox");
    let existing = dest.join("scaleio-bundle-9.9-test-ubuntu14");
    std::fs::create_dir_all(&existing).unwrap();
    std::fs::write(existing.join("operator-notes"), b"keep me").unwrap();
    let err = extract_bundle(&archive, &dest).unwrap_err();
    assert_contains(&err, "already exists; remove it first");
    assert_eq!(files_under(&dest), vec!["scaleio-bundle-9.9-test-ubuntu14/operator-notes"]);
    let names: Vec<_> =
        std::fs::read_dir(&dest).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 1, "staging left behind: {names:?}");
}

#[tokio::test]
async fn concurrent_extractions_into_one_directory_do_not_trample_each_other() {
    // Two threads of one process extract the same bundle into the same sandbox: exactly one
    // wins, the other is refused, and the winner's tree verifies (each used its own staging
    // directory; a shared one would be deleted under the other's feet).
    let dir = tempfile::tempdir().unwrap();
    let archive = real_bundle(dir.path()).await;
    let dest = dir.path().join("sandbox");
    std::fs::create_dir_all(&dest).unwrap();
    for round in 0..4 {
        let round_dest = dest.join(format!("round-{round}"));
        std::fs::create_dir_all(&round_dest).unwrap();
        let results: Vec<Result<PathBuf, String>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| extract_bundle(&archive, &round_dest).map_err(|e| e.to_string()))
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let ok: Vec<&PathBuf> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(ok.len(), 1, "exactly one extraction wins: {results:?}");
        verify_extracted(ok[0]).expect("the winner's tree is whole");
        let names: Vec<_> =
            std::fs::read_dir(&round_dest).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 1, "only the bundle directory remains: {names:?}");
    }
}
