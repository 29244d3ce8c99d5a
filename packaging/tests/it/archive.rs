//! Reproducible tar.gz writer against the real GNU tar and bsdtar, and byte-for-byte repeatability.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use packaging::archive::{ArchiveBuilder, ArchiveError, Digest, Source};

/// The one command constructor of this test binary: argv only, explicit working directory,
/// `LC_ALL=C` and `TZ=UTC`, output captured.
pub(crate) fn output(program: &str, args: &[&str], cwd: &Path) -> Output {
    #[expect(clippy::disallowed_methods, reason = "the one command constructor")]
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|err| panic!("cannot start `{program}`: {err}"))
}

/// Run a program that must succeed; its output.
pub(crate) fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    let output = output(program, args, cwd);
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn write(path: &Path, content: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The same tree created in two different orders, with different modes beyond the x bit and mtimes.
fn trees(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let a = root.join("a");
    write(&a.join("bundle/bin/tool"), b"#!/bin/sh\necho tool\n", 0o700);
    write(&a.join("bundle/README"), b"read me\n", 0o600);
    write(&a.join("bundle/z/deep/file.txt"), b"deep\n", 0o664);
    let b = root.join("b");
    write(&b.join("bundle/z/deep/file.txt"), b"deep\n", 0o644);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&b.join("bundle/README"), b"read me\n", 0o640);
    write(&b.join("bundle/bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    (a, b)
}

fn build(tree: &Path, mtime: u64) -> (Vec<u8>, Digest, Digest) {
    let mut builder = ArchiveBuilder::new(mtime);
    builder.add_tree(&tree.join("bundle"), "bundle").unwrap();
    let (bytes, digests) = builder.write_tar_gz(Vec::new()).unwrap();
    (bytes, digests.tar, digests.gz)
}

#[test]
fn same_entries_in_any_order_give_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = trees(tmp.path());
    let (bytes_a, tar_a, gz_a) = build(&a, 1_700_000_000);
    let (bytes_b, tar_b, gz_b) = build(&b, 1_700_000_000);
    assert_eq!(bytes_a, bytes_b, "same tree, different creation order and mtimes");
    assert_eq!((tar_a, gz_a), (tar_b, gz_b));
    assert_eq!(gz_a, Digest::of(&bytes_a));

    // Entries added one by one in reverse order, from readers and bytes, give the same bytes too.
    let mut builder = ArchiveBuilder::new(1_700_000_000);
    builder
        .add_file("bundle/z/deep/file.txt", false, Source::Bytes(b"deep\n".to_vec()))
        .unwrap()
        .add_file(
            "bundle/bin/tool",
            true,
            Source::Reader { reader: Box::new(&b"#!/bin/sh\necho tool\n"[..]), size: 20 },
        )
        .unwrap()
        .add_file("bundle/README", false, Source::Path(a.join("bundle/README")))
        .unwrap();
    let (bytes_c, _) = builder.write_tar_gz(Vec::new()).unwrap();
    assert_eq!(bytes_c, bytes_a);

    // A different mtime changes the bytes.
    let (bytes_d, _, _) = build(&a, 1_700_000_001);
    assert_ne!(bytes_d, bytes_a);

    // The gzip header carries no name and mtime 0.
    assert_eq!(&bytes_a[..4], &[0x1f, 0x8b, 0x08, 0x00], "no FNAME flag");
    assert_eq!(&bytes_a[4..8], &[0, 0, 0, 0], "gzip mtime 0");
}

#[test]
fn dot_dot_absolute_and_links_are_refused() {
    let mut builder = ArchiveBuilder::new(0);
    let err =
        builder.add_file("bundle/../etc/passwd", false, Source::Bytes(Vec::new())).unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidPath { .. }), "{err}");
    assert!(err.to_string().contains("`..`"), "{err}");
    let err = builder.add_dir("/etc").unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("tree/file"), b"x", 0o644);
    std::os::unix::fs::symlink("file", tmp.path().join("tree/link")).unwrap();
    let err = builder.add_tree(&tmp.path().join("tree"), "tree").unwrap_err();
    assert!(matches!(err, ArchiveError::UnsupportedFileType { .. }), "{err}");
    let err = builder.add_file("x", false, Source::Path(tmp.path().join("tree/link"))).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsupportedFileType { .. }), "{err}");
}

#[test]
fn gnu_tar_and_bsdtar_list_root_owner_modes_and_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = trees(tmp.path());
    let (bytes, _, _) = build(&a, 1_700_000_000); // 2023-11-14 22:13:20 UTC
    fs::write(tmp.path().join("out.tar.gz"), &bytes).unwrap();

    let gnu = run("tar", &["--numeric-owner", "--full-time", "-tvzf", "out.tar.gz"], tmp.path());
    let gnu = String::from_utf8(gnu.stdout).unwrap();
    let gnu: Vec<Vec<&str>> = gnu.lines().map(|l| l.split_whitespace().collect()).collect();
    let want = [
        ("drwxr-xr-x", "0", "bundle/"),
        ("-rw-r--r--", "8", "bundle/README"),
        ("drwxr-xr-x", "0", "bundle/bin/"),
        ("-rwxr-xr-x", "20", "bundle/bin/tool"),
        ("drwxr-xr-x", "0", "bundle/z/"),
        ("drwxr-xr-x", "0", "bundle/z/deep/"),
        ("-rw-r--r--", "5", "bundle/z/deep/file.txt"),
    ];
    assert_eq!(gnu.len(), want.len(), "{gnu:?}");
    for (line, (mode, size, path)) in gnu.iter().zip(want) {
        // drwxr-xr-x 0/0 0 2023-11-14 22:13:20 bundle/
        assert_eq!(line[0], mode, "{line:?}");
        assert_eq!(line[1], "0/0", "{line:?}");
        assert_eq!(line[2], size, "{line:?}");
        assert_eq!(&line[3..5], ["2023-11-14", "22:13:20"], "{line:?}");
        assert_eq!(line[5].trim_end_matches('/'), path.trim_end_matches('/'), "{line:?}");
    }

    let bsd = run("bsdtar", &["--numeric-owner", "-tvzf", "out.tar.gz"], tmp.path());
    let bsd = String::from_utf8(bsd.stdout).unwrap();
    let lines: Vec<Vec<&str>> = bsd.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines.len(), want.len(), "{bsd}");
    for (line, (mode, size, path)) in lines.iter().zip(want) {
        // -rw-r--r--  0 0      0           8 Nov 14  2023 bundle/README
        assert_eq!(line[0], mode, "{line:?}");
        assert_eq!(&line[2..4], ["0", "0"], "{line:?}");
        assert_eq!(line[4], size, "{line:?}");
        assert_eq!(&line[5..8], ["Nov", "14", "2023"], "{line:?}");
        assert_eq!(line[8].trim_end_matches('/'), path.trim_end_matches('/'), "{line:?}");
    }

    // Extracting with GNU tar as an unprivileged umask gives the modes back.
    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run("tar", &["-xzf", "../out.tar.gz"], &out);
    let mode = fs::metadata(out.join("bundle/bin/tool")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let mut text = String::new();
    fs::File::open(out.join("bundle/z/deep/file.txt")).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "deep\n");
}
