//! RecordIO: any chunking of a stream decodes to the same records; corrupt headers are fatal.

use mesos::recordio::{Decoder, RecordIoError, encode, encode_into};
use proptest::prelude::*;

const SUBSCRIBED: &[u8] = br#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"fw-1"},"heartbeat_interval_seconds":15.0}}"#;
const HEARTBEAT: &[u8] = br#"{"type":"HEARTBEAT"}"#;

fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, RecordIoError> {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.clamp(start, stream.len());
        out.extend(d.decode(&stream[start..cut])?.into_iter().map(|b| b.to_vec()));
        start = cut;
    }
    d.finish()?;
    Ok(out)
}

#[test]
fn conformance_case_1_any_split_of_subscribed_and_heartbeat() {
    assert_eq!(SUBSCRIBED.len(), 102, "the design note's worked example is 102 bytes");
    let mut stream = Vec::new();
    encode_into(SUBSCRIBED, &mut stream);
    encode_into(HEARTBEAT, &mut stream);
    assert!(stream.starts_with(b"102\n{"));
    assert_eq!(&stream[106..110], b"20\n{");
    let expected = vec![SUBSCRIBED.to_vec(), HEARTBEAT.to_vec()];
    assert_eq!(decode_in_pieces(&stream, &[]).expect("one piece"), expected);
    let every_byte: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(decode_in_pieces(&stream, &every_byte).expect("1-byte pieces"), expected);
    assert_eq!(decode_in_pieces(&stream, &[1]).expect("split inside header"), expected);
}

#[test]
fn conformance_case_2_binary_payload_and_300kb_record_in_40_chunks() {
    let mut protobuf_like = vec![0x0a, 0x05, b'h', b'e', b'l', b'l', b'o', 0x0a, 0x0a];
    protobuf_like.extend_from_slice(b"\n\n12\n");
    let big: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    let mut stream = Vec::new();
    encode_into(&protobuf_like, &mut stream);
    encode_into(&big, &mut stream);
    let step = stream.len() / 40 + 1;
    let cuts: Vec<usize> = (1..40).map(|i| i * step).collect();
    let records = decode_in_pieces(&stream, &cuts).expect("decodes");
    assert_eq!(records, vec![protobuf_like, big]);
}

#[test]
fn garbage_headers_are_fatal() {
    for bad in [&b"1x\n"[..], b"\n", b" 2\nab", b"-1\n", b"0x10\n", b"2\r\nab", b"abc"] {
        let mut d = Decoder::default();
        let err = d.decode(bad).expect_err("garbage header must fail");
        assert!(matches!(err, RecordIoError::InvalidHeader { .. }), "{bad:?}: {err}");
        assert!(err.to_string().contains("invalid recordio header"), "{err}");
    }
}

#[test]
fn truncated_stream_is_reported_at_finish() {
    let mut d = Decoder::default();
    let stream = encode(b"hello");
    assert!(d.decode(&stream[..4]).expect("partial").is_empty());
    assert_eq!(d.finish(), Err(RecordIoError::Truncated { buffered: 2 }));
    let mut d = Decoder::default();
    d.decode(b"12").expect("partial header");
    assert!(d.finish().is_err());
}

#[test]
fn record_above_the_maximum_is_a_clear_error() {
    let mut d = Decoder::new(1024);
    let err = d.decode(&encode(&[0u8; 2048])).expect_err("too large");
    assert_eq!(err.to_string(), "recordio record of 2048 bytes exceeds the maximum of 1024 bytes");
}

#[test]
fn bytes_counted_not_characters() {
    let record = r#"{"type":"ERROR","error":{"message":"café"}}"#.as_bytes();
    assert_eq!(record.len(), 44);
    assert!(encode(record).starts_with(b"44\n"));
}

proptest! {
    #[test]
    fn random_splits_decode_to_the_same_records(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for r in &records {
            encode_into(r, &mut stream);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_in_pieces(&stream, &cuts).expect("valid stream"), records);
    }
}

#[test]
fn large_input_in_tiny_chunks_is_linear() {
    // 20 MB in 1 KiB chunks as one record plus many small ones: quadratic buffering would take
    // minutes here, linear takes well under a second even unoptimised.
    let big = vec![b'x'; 20 * 1024 * 1024];
    let mut stream = encode(&big);
    for _ in 0..10_000 {
        encode_into(HEARTBEAT, &mut stream);
    }
    let started = std::time::Instant::now();
    let mut d = Decoder::default();
    let mut count = 0;
    for chunk in stream.chunks(1024) {
        count += d.decode(chunk).expect("valid").len();
    }
    assert_eq!(count, 10_001);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}
