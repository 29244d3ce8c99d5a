//! The file store (`--store file:DIR`): compare-and-set, atomic replacement, private modes, damage
//! detection, and two schedulers on one directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use scheduler::config::StoreSpec;
use scheduler::store::{Store, StoreError, Version, Versioned};

async fn open(dir: &Path) -> Store {
    Store::open(&StoreSpec::File { dir: dir.to_path_buf() }).await.unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn versions_advance_only_by_compare_and_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state/nested");
    let store = open(&dir).await;
    assert_eq!(store.to_string(), format!("file:{}", dir.display()));
    assert_eq!(store.load().await.unwrap(), None);

    assert_eq!(store.save(None, b"first").await.unwrap(), Version(1));
    assert_eq!(
        store.load().await.unwrap(),
        Some(Versioned { version: Version(1), data: b"first".to_vec() })
    );
    assert_eq!(store.save(Some(Version(1)), b"second").await.unwrap(), Version(2));

    // A stale writer is refused and nothing changes.
    let error = store.save(Some(Version(1)), b"stale").await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Conflict { expected: Some(Version(1)), found: Some(Version(2)), .. }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("expected version 1, found 2"), "{message}");
    assert!(message.contains("hint: only one scheduler may use a store at a time"), "{message}");
    let error = store.save(None, b"fresh").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { expected: None, found: Some(Version(2)), .. }));
    let error = store.save(Some(Version(5)), b"future").await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { found: Some(Version(2)), .. }));
    assert_eq!(store.load().await.unwrap().unwrap().data, b"second");

    // Another process (a restarted scheduler) sees the same state.
    drop(store);
    let reopened = open(&dir).await;
    assert_eq!(
        reopened.load().await.unwrap(),
        Some(Versioned { version: Version(2), data: b"second".to_vec() })
    );

    // Private: the directory we created is 0700, the state 0600, and no temp file is left.
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("scheduler-state")), 0o600);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["scheduler-state", "scheduler-state.lock"]);
}

#[tokio::test]
async fn empty_and_binary_blobs_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let v1 = store.save(None, b"").await.unwrap();
    assert_eq!(store.load().await.unwrap().unwrap().data, b"");
    let blob: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let v2 = store.save(Some(v1), &blob).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(Versioned { version: v2, data: blob }));
}

#[tokio::test]
async fn damage_is_reported_with_the_file_and_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    store.save(None, b"{\"framework_id\":\"abc\"}").await.unwrap();
    let path = tmp.path().join("scheduler-state");
    let good = std::fs::read(&path).unwrap();

    std::fs::write(&path, &good[..good.len() - 3]).unwrap();
    let message = store.load().await.unwrap_err().to_string();
    assert!(message.contains(&format!("{} is damaged", path.display())), "{message}");
    assert!(message.contains("expected 22 bytes of state, found 19"), "{message}");
    assert!(message.contains("hint: restore it from a backup"), "{message}");

    let mut flipped = good.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    let message = store.load().await.unwrap_err().to_string();
    assert!(message.contains("expected SHA-256"), "{message}");
    // A damaged file is never overwritten by a save either.
    assert!(matches!(store.save(Some(Version(1)), b"x").await, Err(StoreError::Corrupt { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), flipped);

    // A temp file left by a crash mid-save does not matter.
    std::fs::write(&path, &good).unwrap();
    std::fs::write(tmp.path().join(".scheduler-state.tmp"), b"half-written").unwrap();
    assert_eq!(store.load().await.unwrap().unwrap().version, Version(1));
    assert_eq!(store.save(Some(Version(1)), b"next").await.unwrap(), Version(2));

    // A symlink planted where the temp file goes is replaced, never written through.
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, tmp.path().join(".scheduler-state.tmp")).unwrap();
    assert_eq!(store.save(Some(Version(2)), b"third").await.unwrap(), Version(3));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(store.load().await.unwrap().unwrap().data, b"third");
}

#[tokio::test]
async fn a_directory_that_cannot_be_used_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let error = Store::open(&StoreSpec::File { dir: file.clone() }).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("store file:{}: cannot create the directory", file.display())),
        "{message}"
    );
    assert!(message.contains("hint:"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_racing_on_one_directory_never_both_win() {
    let tmp = tempfile::tempdir().unwrap();
    // Separate opens: separate lock-file descriptions, as two processes would have.
    let a = Arc::new(open(tmp.path()).await);
    let b = Arc::new(open(tmp.path()).await);
    a.save(None, b"0").await.unwrap();
    for round in 0..40u64 {
        let base = a.load().await.unwrap().unwrap().version;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let race = |store: Arc<Store>, name: &'static str| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.save(Some(base), format!("{name}-{round}").as_bytes()).await
            })
        };
        let (ra, rb) = (race(a.clone(), "a"), race(b.clone(), "b"));
        let results = [ra.await.unwrap(), rb.await.unwrap()];
        let wins: Vec<&Version> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins, [&Version(base.0 + 1)], "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(r, Err(StoreError::Conflict { .. }))),
            "round {round}: the loser sees a conflict"
        );
        let stored = b.load().await.unwrap().unwrap();
        assert_eq!(stored.version, Version(base.0 + 1));
        let winner = if results[0].is_ok() { "a" } else { "b" };
        assert_eq!(stored.data, format!("{winner}-{round}").as_bytes());
    }
}

#[tokio::test]
async fn the_loop_saves_through_its_state_store_trait() {
    use scheduler::runtime::{SaveError, StateStore};
    let tmp = tempfile::tempdir().unwrap();
    let mut store = open(tmp.path()).await;
    assert_eq!(StateStore::save(&mut store, None, b"a".to_vec()).await.unwrap(), 1);
    assert_eq!(StateStore::save(&mut store, Some(1), b"b".to_vec()).await.unwrap(), 2);
    match StateStore::save(&mut store, Some(1), b"c".to_vec()).await {
        Err(SaveError::Conflict { expected: Some(1), found: Some(2) }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Damage surfaces with the file named.
    std::fs::write(tmp.path().join("scheduler-state"), b"garbage").unwrap();
    match StateStore::save(&mut store, Some(2), b"d".to_vec()).await {
        Err(SaveError::Other(message)) => assert!(message.contains("is damaged"), "{message}"),
        other => panic!("expected a store failure, got {other:?}"),
    }
}
