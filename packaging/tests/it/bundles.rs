//! Bundles end to end: the layout the Mesos fetcher needs, byte-for-byte reproducibility, and
//! extraction by the real GNU tar and bsdtar followed by `sha256sum -c`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use packaging::build::build_bundles;
use packaging::bundle::WrittenBundle;
use packaging::catalog::Platform;
use packaging::fetch::NoProgress;
use packaging::reader::{verify_bundle_file, verify_extracted};

use crate::archive::run;
use crate::fixture::{Item, bytes, catalog, config, lock};

fn items() -> Vec<Item> {
    let mut so = Item::new("isolator", "any", bytes(20, 50_000));
    so.component = "dvdi-isolator";
    so.file = "libmesos_dvdi_isolator-1.0.1.so".into();
    vec![
        Item::new("sds-deb", "ubuntu14", bytes(21, 200_000)),
        Item::new("sdc-deb", "ubuntu14", bytes(22, 1)),
        Item::new("sds-rpm", "rhel7", bytes(23, 70_000)),
        Item::new("empty-rpm", "rhel7", Vec::new()),
        so,
    ]
}

/// A mirror with the items written in the given order, with a given umask-like mode and mtime.
fn make_mirror(dir: &Path, order: &[usize], mode: u32, mtime_offset: i64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let all = items();
    for &i in order {
        let path = dir.join(&all[i].file);
        std::fs::write(&path, &all[i].data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let when = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs((1_600_000_000 + mtime_offset) as u64);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        if mode == 0o775 {
            // Another owner where we may change it (as root); the bundle must not show it.
            let _ = std::os::unix::fs::chown(&path, Some(1000), Some(1000));
        }
    }
    dir.to_path_buf()
}

async fn build(dir: &Path, mirror: PathBuf, mtime: u64) -> (PathBuf, Vec<WrittenBundle>) {
    let all = items();
    let mut cfg = config(dir);
    cfg.mirrors = vec![mirror];
    cfg.offline = true;
    let out = dir.join("out");
    let bundles = build_bundles(
        &catalog(&all),
        &lock(&all),
        &[Platform::Ubuntu14, Platform::Rhel7],
        &cfg,
        &out,
        mtime,
        Arc::new(NoProgress),
    )
    .await
    .expect("bundles build");
    (out, bundles)
}

#[tokio::test(flavor = "multi_thread")]
async fn same_inputs_give_the_same_bytes_whatever_the_order_mtimes_and_modes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (out_a, bundles_a) =
        build(a.path(), make_mirror(&a.path().join("m"), &[0, 1, 2, 3, 4], 0o600, 0), 0).await;
    let (out_b, bundles_b) =
        build(b.path(), make_mirror(&b.path().join("m"), &[4, 3, 2, 1, 0], 0o775, 86_400), 0).await;
    assert_eq!(bundles_a, bundles_b);
    assert_eq!(bundles_a.len(), 2);
    for bundle in &bundles_a {
        let bytes_a = std::fs::read(out_a.join(&bundle.file)).unwrap();
        let bytes_b = std::fs::read(out_b.join(&bundle.file)).unwrap();
        assert!(bytes_a == bytes_b, "{} differs between builds", bundle.file);
        let prefix = format!("scaleio-bundle-9.9-test-{}-", bundle.platform);
        assert_eq!(bundle.file, format!("{prefix}{}.tar.gz", bundle.sha256.short(8)));
    }
    assert_eq!(
        std::fs::read(out_a.join("bundles.json")).unwrap(),
        std::fs::read(out_b.join("bundles.json")).unwrap()
    );

    // A different SOURCE_DATE_EPOCH changes the bytes (and so the name), nothing else does.
    let c = tempfile::tempdir().unwrap();
    let (_, bundles_c) = build(
        c.path(),
        make_mirror(&c.path().join("m"), &[0, 1, 2, 3, 4], 0o644, 0),
        1_700_000_000,
    )
    .await;
    assert_ne!(bundles_c[0].sha256, bundles_a[0].sha256);
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_hold_their_platform_and_any_artifacts_and_list_them_in_bundles_json() {
    let dir = tempfile::tempdir().unwrap();
    let (out, bundles) =
        build(dir.path(), make_mirror(&dir.path().join("m"), &[0, 1, 2, 3, 4], 0o644, 0), 0).await;
    let names = |b: &WrittenBundle| b.artifacts.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    assert_eq!(bundles[0].platform, Platform::Ubuntu14);
    assert_eq!(names(&bundles[0]), ["isolator", "sdc-deb", "sds-deb"]);
    assert_eq!(names(&bundles[1]), ["empty-rpm", "isolator", "sds-rpm"]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bundles.json")).unwrap()).unwrap();
    let first = &index[0];
    assert_eq!(first["platform"], "ubuntu14");
    assert_eq!(first["file"], bundles[0].file.as_str());
    assert_eq!(first["sha256"], bundles[0].sha256.to_string());
    assert_eq!(first["size"], std::fs::metadata(out.join(&bundles[0].file)).unwrap().len());
    assert_eq!(first["artifacts"][0]["component"], "dvdi-isolator");
    for b in &bundles {
        let sidecar = std::fs::read_to_string(out.join(format!("{}.sha256", b.file))).unwrap();
        assert_eq!(sidecar, format!("{}  {}\n", b.sha256, b.file));
        let manifest = verify_bundle_file(&out.join(&b.file)).expect("bundle verifies");
        assert_eq!(manifest.platform, b.platform);
        // `sha256sum -c` agrees with the sidecar.
        run("sha256sum", &["-c", &format!("{}.sha256", b.file)], &out);
    }
    // Only finished files in the output directory.
    let mut listing: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listing.sort();
    assert_eq!(listing.len(), 5, "{listing:?}");
    assert!(listing.iter().all(|f| !f.starts_with('.')), "{listing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gnu_tar_and_bsdtar_extract_bundles_that_pass_sha256sum_and_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (out, bundles) =
        build(dir.path(), make_mirror(&dir.path().join("m"), &[0, 1, 2, 3, 4], 0o644, 0), 0).await;
    for b in &bundles {
        let archive = out.join(&b.file);
        let top = format!("scaleio-bundle-9.9-test-{}", b.platform);
        for (tool, args) in [("tar", vec!["-xzf"]), ("bsdtar", vec!["-xf"])] {
            let dest = dir.path().join(format!("x-{tool}-{}", b.platform));
            std::fs::create_dir_all(&dest).unwrap();
            let mut argv: Vec<&str> = args.clone();
            let archive_text = archive.display().to_string();
            argv.push(&archive_text);
            run(tool, &argv, &dest);
            let entries: Vec<String> = std::fs::read_dir(&dest)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(
                entries,
                std::slice::from_ref(&top),
                "{tool}: exactly one top-level directory"
            );
            let bundle_dir = dest.join(&top);
            let sums = run("sha256sum", &["-c", "SHA256SUMS"], &bundle_dir);
            let ok_lines = String::from_utf8_lossy(&sums.stdout)
                .lines()
                .filter(|l| l.ends_with(": OK"))
                .count();
            assert_eq!(
                ok_lines,
                b.artifacts.len() + 1,
                "{tool}: manifest and every artifact checked"
            );
            let mode =
                std::fs::metadata(bundle_dir.join("manifest.json")).unwrap().permissions().mode()
                    & 0o777;
            assert_eq!(mode & 0o644, 0o644, "{tool}: files readable");
            let manifest = verify_extracted(&bundle_dir).expect("extracted bundle verifies");
            assert_eq!(manifest.artifacts.len(), b.artifacts.len());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unprivileged_user_extracts_a_readable_verifiable_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (out, bundles) =
        build(dir.path(), make_mirror(&dir.path().join("m"), &[0, 1, 2, 3, 4], 0o644, 0), 0).await;
    let archive = out.join(&bundles[1].file).display().to_string();
    for tool in ["tar", "bsdtar"] {
        let dest = dir.path().join(format!("user-{tool}"));
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o777)).unwrap();
        // As root, drop to `nobody` the way an agent runs a task as its user.
        let as_nobody =
            ["--reuid=65534", "--regid=65534", "--clear-groups", tool, "-xzf", &archive];
        let is_root = std::fs::metadata("/proc/self")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        if is_root {
            run("setpriv", &as_nobody, &dest);
        } else {
            run(tool, &as_nobody[3..], &dest);
        }
        let bundle_dir = dest.join("scaleio-bundle-9.9-test-rhel7");
        if is_root {
            let owner = std::os::unix::fs::MetadataExt::uid(
                &std::fs::metadata(bundle_dir.join("manifest.json")).unwrap(),
            );
            assert_eq!(owner, 65534, "{tool}: extracted by nobody, not as the archive's uid 0");
        }
        for entry in walk(&bundle_dir) {
            let meta = std::fs::symlink_metadata(&entry).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let want = if meta.is_dir() { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "{tool}: {} has mode {mode:o}", entry.display());
        }
        verify_extracted(&bundle_dir).expect("the user's tree verifies");
        run("sha256sum", &["-c", "SHA256SUMS"], &bundle_dir);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
