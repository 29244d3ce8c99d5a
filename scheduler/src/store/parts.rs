//! How the ZooKeeper store keeps a state larger than one znode may hold: the state gzip-compressed
//! and cut into parts, each in its own znode, and in the state's znode a small head that names
//! the parts' generation and the state's length and SHA-256. Pure functions; the znode IO is in
//! `zk.rs`.
//!
//! A state that fits stays as it is (plain JSON in the state's znode), so a small cluster's
//! state reads the same as before and `zkCli.sh get` shows it. Parts are immutable: each write
//! makes a new generation (named by the version it makes and a random id, so racing writers never
//! share one), and the compare-and-set of the head decides which generation is the state.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use packaging::catalog::Sha256;
use serde::{Deserialize, Serialize};

/// The first line of a head; a plain state is a JSON object and never starts with it.
pub const HEAD_MAGIC: &[u8] = b"scaleio-store-parts/1\n";

/// The longest state the store reads back (a 10,000-agent plan is about 31 MiB).
pub const MAX_STATE: u64 = 1 << 30;

/// What the state's znode says: where the state is and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The parts' generation: `<version it makes, 10 digits>-<random hex>`.
    pub generation: String,
    /// How many parts, named `<generation>.<index>` under the parts znode.
    pub parts: u32,
    /// The compressed length, all parts together.
    pub compressed: u64,
    /// The state's length.
    pub bytes: u64,
    /// The state's SHA-256 (lowercase hex in the head).
    pub sha256: Sha256,
}

/// What a state znode holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// The state itself.
    Whole(&'a [u8]),
    /// A head naming the parts that hold it.
    Parts(Head),
}

/// A state compressed, ready to be written in parts under any generation.
#[derive(Debug)]
pub struct Packed {
    compressed: Vec<u8>,
    part_size: usize,
    bytes: u64,
    sha256: Sha256,
}

impl Packed {
    /// The compressed length, all parts together.
    pub fn compressed(&self) -> u64 {
        self.compressed.len() as u64
    }

    /// The parts, in order, each at most the part size.
    pub fn parts(&self) -> std::slice::Chunks<'_, u8> {
        self.compressed.chunks(self.part_size)
    }

    /// The head naming these parts as `generation`, and the bytes the state's znode gets.
    pub fn head(&self, generation: String) -> (Head, Vec<u8>) {
        let head = Head {
            generation,
            parts: u32::try_from(self.parts().len()).expect("fewer than 2^32 parts"),
            compressed: self.compressed(),
            bytes: self.bytes,
            sha256: self.sha256,
        };
        let mut bytes = HEAD_MAGIC.to_vec();
        serde_json::to_writer(&mut bytes, &head).expect("a head serialises");
        (head, bytes)
    }
}

impl Head {
    /// The znode name of part `index`.
    pub fn part_name(&self, index: u32) -> String {
        format!("{}.{index}", self.generation)
    }
}

/// A generation name for a write that makes `version`.
pub fn generation(version: u64) -> String {
    format!("{version:010}-{}", uuid::Uuid::new_v4().simple())
}

/// The version a part's znode name was written for (`None`: not a part name).
pub fn version_of(part_name: &str) -> Option<u64> {
    let (version, _) = part_name.split_once('-')?;
    (version.len() == 10).then(|| version.parse().ok()).flatten()
}

/// The generation of a part's znode name.
pub fn generation_of(part_name: &str) -> &str {
    part_name.rsplit_once('.').map_or(part_name, |(generation, _)| generation)
}

/// Compress `state`, to be cut into parts of at most `part_size` bytes.
pub fn pack(state: &[u8], part_size: usize) -> Packed {
    let mut encoder = GzEncoder::new(Vec::with_capacity(state.len() / 8), Compression::fast());
    encoder.write_all(state).expect("writing into a Vec cannot fail");
    Packed {
        compressed: encoder.finish().expect("writing into a Vec cannot fail"),
        part_size: part_size.max(1),
        bytes: state.len() as u64,
        sha256: Sha256::of(state),
    }
}

/// What the state's znode `data` holds; an error names what is wrong with a head.
pub fn classify(data: &[u8]) -> Result<Stored<'_>, String> {
    let Some(json) = data.strip_prefix(HEAD_MAGIC) else {
        return Ok(Stored::Whole(data));
    };
    let head: Head =
        serde_json::from_slice(json).map_err(|e| format!("its head does not parse: {e}"))?;
    if head.bytes > MAX_STATE {
        return Err(format!(
            "its head declares a state of {} bytes; the most this scheduler reads is {MAX_STATE}",
            head.bytes
        ));
    }
    if version_of(&head.generation).is_none() || head.generation.contains(['/', '.']) {
        return Err(format!("its head names a malformed generation {:?}", head.generation));
    }
    Ok(Stored::Parts(head))
}

/// The state from its parts, checked against the head: lengths, then the SHA-256 of what
/// decompresses, which may not grow past the declared length.
pub fn join(head: &Head, parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if parts.len() != head.parts as usize {
        return Err(format!("expected {} parts, found {}", head.parts, parts.len()));
    }
    let compressed: u64 = parts.iter().map(|p| p.len() as u64).sum();
    if compressed != head.compressed {
        return Err(format!(
            "the parts of generation {} hold {compressed} bytes, the head says {}",
            head.generation, head.compressed
        ));
    }
    let compressed = parts.concat();
    let mut state = Vec::with_capacity(usize::try_from(head.bytes).unwrap_or(0));
    GzDecoder::new(compressed.as_slice()).take(head.bytes + 1).read_to_end(&mut state).map_err(
        |e| format!("the parts of generation {} do not decompress: {e}", head.generation),
    )?;
    if state.len() as u64 != head.bytes {
        return Err(format!(
            "the parts of generation {} decompress to {}{} bytes, the head says {}",
            head.generation,
            if state.len() as u64 > head.bytes { "more than " } else { "" },
            state.len().min(usize::try_from(head.bytes).unwrap_or(usize::MAX)),
            head.bytes
        ));
    }
    let digest = Sha256::of(&state);
    if digest != head.sha256 {
        return Err(format!(
            "the parts of generation {} decompress to a state with SHA-256 {digest}, the head says {}",
            head.generation, head.sha256
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Split {
        head: Head,
        parts: Vec<Vec<u8>>,
    }

    fn state(len: usize) -> Vec<u8> {
        // JSON-like and compressible, with some variety so it does not shrink to nothing.
        let mut s = b"{\"steps\":[".to_vec();
        let mut i = 0u64;
        while s.len() < len {
            s.extend_from_slice(
                format!("{{\"id\":\"sds.add.agent-{i}\",\"n\":{}}},", i * 7919 % 10007).as_bytes(),
            );
            i += 1;
        }
        s.truncate(len);
        s
    }

    #[test]
    fn a_state_splits_into_parts_and_joins_back() {
        let original = state(3_000_000);
        let packed = pack(&original, 10_000);
        let parts: Vec<Vec<u8>> = packed.parts().map(<[u8]>::to_vec).collect();
        assert!(parts.len() > 1, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.len() <= 10_000));
        assert!(packed.compressed() < original.len() as u64 / 4, "{}", packed.compressed());
        let (written, head_bytes) = packed.head(generation(7));
        let Ok(Stored::Parts(head)) = classify(&head_bytes) else { panic!("a head") };
        assert_eq!(head, written);
        assert_eq!(version_of(&head.part_name(0)), Some(7));
        assert_eq!(generation_of(&head.part_name(3)), head.generation);
        assert_eq!(join(&head, &parts).unwrap(), original);
    }

    #[test]
    fn a_plain_state_is_whole() {
        assert_eq!(classify(b"{\"a\":1}").unwrap(), Stored::Whole(b"{\"a\":1}"));
    }

    #[test]
    fn damaged_parts_are_refused_with_what_is_wrong() {
        let original = state(200_000);
        let packed = pack(&original, 5_000);
        let s = Split {
            head: packed.head(generation(3)).0,
            parts: packed.parts().map(<[u8]>::to_vec).collect(),
        };
        let mut missing = s.parts.clone();
        missing.pop();
        assert!(join(&s.head, &missing).unwrap_err().starts_with("expected "));
        let mut flipped = s.parts.clone();
        let last = flipped.len() - 1;
        flipped[last][0] ^= 0xff;
        flipped.swap(0, last);
        let error = join(&s.head, &flipped).unwrap_err();
        assert!(error.contains("do not decompress") || error.contains("SHA-256"), "{error}");
        let mut head = s.head.clone();
        head.sha256 = Sha256::from_bytes([0; 32]);
        assert!(join(&head, &s.parts).unwrap_err().contains("SHA-256"));
        let mut head = s.head.clone();
        head.bytes -= 1;
        let error = join(&head, &s.parts).unwrap_err();
        assert!(error.contains("more than"), "{error}");
    }

    #[test]
    fn a_head_that_declares_a_huge_state_or_a_bad_generation_is_refused() {
        let mut s = Split { head: pack(b"{}", 10).head(generation(1)).0, parts: vec![] };
        s.head.bytes = MAX_STATE + 1;
        let mut bytes = HEAD_MAGIC.to_vec();
        bytes.extend(serde_json::to_vec(&s.head).unwrap());
        assert!(classify(&bytes).unwrap_err().contains("the most this scheduler reads"));
        s.head.bytes = 2;
        s.head.generation = "../x".into();
        let mut bytes = HEAD_MAGIC.to_vec();
        bytes.extend(serde_json::to_vec(&s.head).unwrap());
        assert!(classify(&bytes).unwrap_err().contains("malformed generation"));
        let mut bytes = HEAD_MAGIC.to_vec();
        bytes.extend(b"{not json");
        assert!(classify(&bytes).unwrap_err().contains("does not parse"));
    }
}
