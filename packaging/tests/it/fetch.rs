//! The verifying fetcher against a loopback HTTP server that misbehaves in every way we know.

use std::path::Path;
use std::sync::Arc;

use packaging::build::{BuildError, build_bundles};
use packaging::catalog::{Platform, Sha256};
use packaging::fetch::{Fetched, NoProgress, fetch_pinned};

use crate::fixture::{Item, bytes, catalog, config, files_under, lock, mirror};
use crate::server::{Route, Server};

const LEN: usize = 300_000;

async fn fetch(dir: &Path, item: &Item) -> Result<Fetched, String> {
    let cfg = config(dir);
    let c = catalog(std::slice::from_ref(item));
    fetch_pinned(&cfg, &[(c.artifacts[0].clone(), item.pin())], Arc::new(NoProgress))
        .await
        .map(|mut v| v.remove(0))
        .map_err(|e| e.to_string())
}

/// Nothing but published, verified entries in the cache.
fn assert_cache_clean(dir: &Path) {
    let files = files_under(&dir.join("cache"));
    assert!(files.iter().all(|f| !f.ends_with(".part")), "partial files left: {files:?}");
}

#[tokio::test]
async fn corrupt_bytes_name_artifact_url_and_both_digests_and_leave_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let good = bytes(1, LEN);
    let mut bad = good.clone();
    bad[LEN / 2] ^= 0xff;
    let url = server.route("corrupt.pkg", Route { data: bad.clone(), ..Route::default() });
    let item = Item::new("corrupt", "ubuntu14", good).urls(std::slice::from_ref(&url));
    let out = dir.path().join("out");
    let err = build_bundles(
        &catalog(std::slice::from_ref(&item)),
        &lock(std::slice::from_ref(&item)),
        &[Platform::Ubuntu14],
        &config(dir.path()),
        &out,
        0,
        Arc::new(NoProgress),
    )
    .await
    .expect_err("corrupt bytes must fail");
    let msg = err.to_string();
    for needle in [
        "\"corrupt\"".to_owned(),
        url.clone(),
        format!("expected {}", item.pin().sha256),
        format!("actual {}", Sha256::of(&bad)),
    ] {
        assert!(msg.contains(&needle), "{needle:?} missing from:\n{msg}");
    }
    assert!(!out.exists(), "the output directory must not even be created");
    assert_cache_clean(dir.path());
    assert!(files_under(&dir.path().join("cache")).is_empty());
}

#[tokio::test]
async fn a_truncated_body_is_a_size_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(2, LEN);
    let url = server
        .route("t.pkg", Route { data: data.clone(), truncate_to: Some(1000), ..Route::default() });
    let err = fetch(dir.path(), &Item::new("t", "any", data).urls(&[url])).await.unwrap_err();
    assert!(
        err.contains(&format!("size mismatch: server announces 1000 bytes, expected {LEN}")),
        "{err}"
    );
    assert_cache_clean(dir.path());
}

#[tokio::test]
async fn a_body_past_the_pinned_size_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(3, LEN);
    let url = server
        .route("o.pkg", Route { data: data.clone(), overrun_by: 100_000, ..Route::default() });
    let err = fetch(dir.path(), &Item::new("o", "any", data).urls(&[url])).await.unwrap_err();
    assert!(err.contains(&format!("body exceeds the pinned size of {LEN} bytes")), "{err}");
    assert_cache_clean(dir.path());
}

#[tokio::test]
async fn every_url_is_tried_in_order_and_the_error_lists_each_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(4, LEN);
    let missing = server.route("gone.pkg", Route { not_found: true, ..Route::default() });
    let down = server.route("down.pkg", Route { unavailable_first: 99, ..Route::default() });
    let item = Item::new("multi", "any", data.clone()).urls(&[missing.clone(), down.clone()]);
    let err = fetch(dir.path(), &item).await.unwrap_err();
    assert!(err.contains(&format!("{missing}: HTTP 404 Not Found")), "{err}");
    assert!(
        err.contains(&format!("{down}: HTTP 503 Service Unavailable (gave up after 3 attempts)")),
        "{err}"
    );
    let seen = server.seen();
    assert_eq!(seen.iter().filter(|s| s.path == "gone.pkg").count(), 1, "a 404 is not retried");
    assert_eq!(seen.iter().filter(|s| s.path == "down.pkg").count(), 3, "a 503 is retried");

    // A mismatching URL is not retried; a good one after it wins.
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    let corrupt = server.route("corrupt.pkg", Route { data: wrong, ..Route::default() });
    let good = server.route("good.pkg", Route { data: data.clone(), ..Route::default() });
    let item = item.urls(&[missing, down, corrupt, good.clone()]);
    let fetched = fetch(dir.path(), &item).await.unwrap();
    assert_eq!(fetched.source, good);
    assert_eq!(std::fs::read(&fetched.path).unwrap(), data);
    assert_eq!(server.seen().iter().filter(|s| s.path == "corrupt.pkg").count(), 1);
}

#[tokio::test]
async fn a_transient_503_is_retried_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(5, LEN);
    let url = server
        .route("flaky.pkg", Route { data: data.clone(), unavailable_first: 2, ..Route::default() });
    let fetched =
        fetch(dir.path(), &Item::new("flaky", "any", data.clone()).urls(&[url])).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), data);
    assert_eq!(
        fetched.path,
        dir.path().join("cache/artifacts-v1/sha256").join(Sha256::of(&data).to_string())
    );
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_range_and_if_range() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(6, LEN);
    let route = Route {
        data: data.clone(),
        drop_first: 1,
        advertise_ranges: true,
        honour_ranges: true,
        ..Route::default()
    };
    let url = server.route("r.pkg", route);
    let fetched =
        fetch(dir.path(), &Item::new("r", "any", data.clone()).urls(&[url])).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), data);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].range.as_deref(), Some(format!("bytes={}-", LEN / 2).as_str()));
    assert_eq!(seen[1].if_range.as_deref(), Some("\"v1\""));
    assert_cache_clean(dir.path());
}

#[tokio::test]
async fn a_server_ignoring_range_gets_a_restart_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(7, LEN);
    let route =
        Route { data: data.clone(), drop_first: 1, advertise_ranges: true, ..Route::default() };
    let url = server.route("ir.pkg", route);
    let fetched =
        fetch(dir.path(), &Item::new("ir", "any", data.clone()).urls(&[url])).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), data, "no duplicated prefix");
    let seen = server.seen();
    assert!(seen[1].range.is_some(), "the retry asked for a range: {seen:?}");
}

#[tokio::test]
async fn without_range_support_a_drop_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(8, LEN);
    let url =
        server.route("nr.pkg", Route { data: data.clone(), drop_first: 2, ..Route::default() });
    let fetched =
        fetch(dir.path(), &Item::new("nr", "any", data.clone()).urls(&[url])).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), data);
    assert!(server.seen().iter().all(|s| s.range.is_none()));
}

#[tokio::test]
async fn an_unpinned_artifact_names_the_lock_command() {
    let dir = tempfile::tempdir().unwrap();
    let a = Item::new("pinned", "ubuntu14", bytes(9, 10));
    let b = Item::new("loose", "any", bytes(10, 10));
    let err = build_bundles(
        &catalog(&[a.clone(), b]),
        &lock(&[a]),
        &[Platform::Ubuntu14],
        &config(dir.path()),
        &dir.path().join("out"),
        0,
        Arc::new(NoProgress),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BuildError::Unpinned { .. }));
    assert!(
        err.to_string().contains("hint: run `cargo xtask bundle lock --update loose`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_mirror_is_used_before_any_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let by_name = Item::new("m1", "any", bytes(11, LEN)).urls(&[server.url("m1.pkg")]);
    let by_digest = Item::new("m2", "any", bytes(12, LEN)).urls(&[server.url("m2.pkg")]);
    let m = mirror(&dir.path().join("mirror"), std::slice::from_ref(&by_name));
    std::fs::create_dir_all(m.join("sha256")).unwrap();
    std::fs::write(m.join("sha256").join(by_digest.pin().sha256.to_string()), &by_digest.data)
        .unwrap();
    let mut cfg = config(dir.path());
    cfg.mirrors = vec![m.clone()];
    let c = catalog(&[by_name.clone(), by_digest.clone()]);
    let items =
        vec![(c.artifacts[0].clone(), by_name.pin()), (c.artifacts[1].clone(), by_digest.pin())];
    let fetched = fetch_pinned(&cfg, &items, Arc::new(NoProgress)).await.unwrap();
    assert_eq!(fetched[0].source, m.join("m1.pkg").display().to_string());
    assert_eq!(
        fetched[1].source,
        m.join("sha256").join(by_digest.pin().sha256.to_string()).display().to_string()
    );
    assert!(server.seen().is_empty(), "the network was touched: {:?}", server.seen());

    // A second run is served from the cache even offline and without the mirror.
    let mut offline = config(dir.path());
    offline.offline = true;
    let again = fetch_pinned(&offline, &items, Arc::new(NoProgress)).await.unwrap();
    assert!(again.iter().all(|f| f.source == "cache"));
}

#[tokio::test]
async fn a_wrong_mirror_file_falls_through_to_the_next_source() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start().await;
    let data = bytes(13, LEN);
    let url = server.route("w.pkg", Route { data: data.clone(), ..Route::default() });
    let item = Item::new("w", "any", data).urls(std::slice::from_ref(&url));
    let m = dir.path().join("mirror");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join(&item.file), b"not the package").unwrap();
    let mut cfg = config(dir.path());
    cfg.mirrors = vec![m];
    let c = catalog(std::slice::from_ref(&item));
    let fetched = fetch_pinned(&cfg, &[(c.artifacts[0].clone(), item.pin())], Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(fetched[0].source, url);
}

#[tokio::test]
async fn a_tampered_cache_entry_is_evicted_before_packing() {
    let dir = tempfile::tempdir().unwrap();
    let item = Item::new("tamper", "any", bytes(14, LEN));
    let m = mirror(&dir.path().join("mirror"), std::slice::from_ref(&item));
    let c = catalog(std::slice::from_ref(&item));
    let items = [(c.artifacts[0].clone(), item.pin())];
    let mut cfg = config(dir.path());
    cfg.mirrors = vec![m];
    let first = fetch_pinned(&cfg, &items, Arc::new(NoProgress)).await.unwrap().remove(0);

    // Same size, one byte changed: only the digest can tell.
    let mut tampered = item.data.clone();
    tampered[7] ^= 1;
    std::fs::write(&first.path, &tampered).unwrap();
    let mut offline = config(dir.path());
    offline.offline = true;
    let err = fetch_pinned(&offline, &items, Arc::new(NoProgress)).await.unwrap_err().to_string();
    assert!(err.contains("tampered entry evicted"), "{err}");
    assert!(err.contains(&format!("expected {}", item.pin().sha256)), "{err}");
    assert!(!first.path.exists(), "the tampered entry is gone");

    // The mirror repopulates it.
    let again = fetch_pinned(&cfg, &items, Arc::new(NoProgress)).await.unwrap().remove(0);
    assert_eq!(std::fs::read(&again.path).unwrap(), item.data);
}
