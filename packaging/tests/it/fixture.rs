//! Test fixtures: catalogs and locks built through the real parsers, fast retry settings, and
//! directory listings for "nothing partial is left" checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use packaging::catalog::{Catalog, Lock, Pin, Sha256};
use packaging::fetch::{FetchConfig, RetryPolicy};

/// One artifact of a test catalog.
#[derive(Clone, Debug)]
pub struct Item {
    pub name: &'static str,
    pub component: &'static str,
    pub platform: &'static str,
    pub file: String,
    pub data: Vec<u8>,
    pub urls: Vec<String>,
}

impl Item {
    pub fn new(name: &'static str, platform: &'static str, data: Vec<u8>) -> Item {
        let file = format!("{name}.pkg");
        Item { name, component: "sds", platform, file, data, urls: Vec::new() }
    }

    pub fn urls(mut self, urls: &[String]) -> Item {
        self.urls = urls.to_vec();
        self
    }

    pub fn pin(&self) -> Pin {
        Pin { sha256: Sha256::of(&self.data), size: self.data.len() as u64 }
    }
}

/// Deterministic pseudo-random bytes (incompressible, like real packages).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn catalog_text(items: &[Item]) -> String {
    let mut text = String::from("release = \"9.9-test\"\n");
    for i in items {
        let urls: Vec<String> = i.urls.iter().map(|u| format!("{u:?}")).collect();
        text.push_str(&format!(
            "\n[[artifact]]\nname = {:?}\ncomponent = {:?}\nplatform = {:?}\nversion = \"1.0\"\nfile = {:?}\nurls = [{}]\n",
            i.name,
            i.component,
            i.platform,
            i.file,
            urls.join(", ")
        ));
    }
    text
}

pub fn catalog(items: &[Item]) -> Catalog {
    Catalog::parse(&catalog_text(items), Path::new("test-catalog.toml"))
        .expect("test catalog is valid")
}

pub fn lock(items: &[Item]) -> Lock {
    let mut lock = Lock::default();
    for i in items {
        lock.set(i.name, i.pin());
    }
    lock
}

/// Fetch settings with a cache under `dir` and millisecond backoff.
pub fn config(dir: &Path) -> FetchConfig {
    let mut config = FetchConfig::new(dir.join("cache"));
    config.retry =
        RetryPolicy { attempts: 3, base: Duration::from_millis(1), cap: Duration::from_millis(5) };
    config.connect_timeout = Duration::from_secs(5);
    config.read_timeout = Duration::from_secs(5);
    config
}

/// Writes every item's bytes into `dir/<file>`.
pub fn mirror(dir: &Path, items: &[Item]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for i in items {
        std::fs::write(dir.join(&i.file), &i.data).unwrap();
    }
    dir.to_path_buf()
}

/// Every file below `dir` (relative), sorted; empty when `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
