//! Hostile RecordIO streams beyond `recordio.rs`: arbitrary bytes in arbitrary chunks never
//! panic, header lengths at the u64 boundary, corruption and truncation found at the same record
//! whatever the chunking, and a master that sends a corrupt or oversized record makes the
//! scheduler connection re-subscribe with a reason, not hang or crash.

use std::time::Duration;

use bytes::Bytes;
use mesos::FrameworkInfo;
use mesos::recordio::{Decoder, RecordIoError, encode_into};
use mesos::scheduler::Event;
use mesos::scheduler::connection::{self, Config, Notice};
use proptest::prelude::*;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::fake_master::{FakeMaster, Script};

/// Feeds `stream` cut at `cuts`; returns the records delivered before the first error, the
/// error (from decoding or from `finish`), if any.
fn run(stream: &[u8], cuts: &[usize], max: usize) -> (Vec<Vec<u8>>, Option<RecordIoError>) {
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.clamp(start, stream.len());
        d.feed(&stream[start..cut]);
        start = cut;
        loop {
            match d.next_record() {
                Ok(Some(r)) => out.push(r.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, d.finish().err())
}

fn sorted_cuts(cuts: &[prop::sample::Index], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

#[test]
fn header_lengths_at_the_u64_boundary() {
    let max = usize::MAX;
    // u64::MAX itself is a valid number: refused as too large under the default maximum.
    let (records, err) = run(b"18446744073709551615\n", &[], 64 << 20);
    assert!(records.is_empty());
    assert!(matches!(err, Some(RecordIoError::RecordTooLarge { size: u64::MAX, .. })), "{err:?}");
    // With no maximum at all the announcement is not allocated up front (it used to abort the
    // process with "capacity overflow"): the decoder waits for bytes, and the end is truncation.
    let mut d = Decoder::new(max);
    d.feed(b"18446744073709551615\nabc");
    assert_eq!(d.next_record(), Ok(None));
    assert!(matches!(d.finish(), Err(RecordIoError::Truncated { buffered: 3 })));
    // One more overflows u64: a corrupt header, with the digits shown.
    let (_, err) = run(b"18446744073709551616\n", &[], max);
    let err = err.expect("overflow is an error");
    assert!(matches!(err, RecordIoError::InvalidHeader { .. }), "{err}");
    assert!(err.to_string().contains("18446744073709551616"), "{err}");
    // 21 digits without a newline yet: refused before the newline arrives.
    let mut d = Decoder::default();
    d.feed(b"000000000000000000001");
    assert!(matches!(d.next_record(), Err(RecordIoError::InvalidHeader { .. })));
    // Leading zeros within 20 digits are still a number.
    let (records, err) = run(b"0003\nabc", &[], 1024);
    assert_eq!((records, err), (vec![b"abc".to_vec()], None));
}

#[test]
fn a_header_that_announces_the_maximum_is_refused_before_its_bytes_arrive() {
    // The announcement alone (10 bytes) is refused: nothing waits for 64 MiB + 1 to arrive.
    let mut d = Decoder::default();
    d.feed(b"67108865\n");
    let err = d.next_record().expect_err("over the default maximum");
    assert_eq!(
        err.to_string(),
        "recordio record of 67108865 bytes exceeds the maximum of 67108864 bytes"
    );
    // Later bytes are ignored and the error stays.
    d.feed(&vec![b'x'; 1 << 20]);
    assert_eq!(d.next_record(), Err(err.clone()));
    assert_eq!(d.finish(), Err(err));
}

#[test]
fn non_ascii_digits_and_signs_are_corrupt_headers() {
    for bad in ["٣\nabc", "+3\nabc", "3 \nabc", "\t3\nabc", "3\u{0}\nabc", "1e3\n", "3.0\nabc"] {
        let (records, err) = run(bad.as_bytes(), &[], 1024);
        assert!(records.is_empty(), "{bad:?}");
        let err = err.unwrap_or_else(|| panic!("{bad:?} must be refused"));
        assert!(matches!(err, RecordIoError::InvalidHeader { .. }), "{bad:?}: {err}");
        assert!(err.to_string().contains("the stream is corrupt and must be reopened"), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Any bytes, any chunking: no panic, and the outcome does not depend on the chunking.
    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_does_not_matter(
        stream in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        max in 0usize..300,
    ) {
        let whole = run(&stream, &[], max);
        let pieces = run(&stream, &sorted_cuts(&cuts, stream.len()), max);
        // A corrupt header quotes the bytes buffered when it was seen, which depends on the
        // chunking; the records delivered and the kind of error do not.
        let kind = |e: &Option<RecordIoError>| match e {
            Some(RecordIoError::InvalidHeader { .. }) => {
                Some(RecordIoError::InvalidHeader { found: String::new() })
            }
            other => other.clone(),
        };
        prop_assert_eq!(&whole.0, &pieces.0);
        prop_assert_eq!(kind(&whole.1), kind(&pieces.1));
    }

    /// Good records followed by a corrupt header: every good record is delivered, then the
    /// corruption is reported, whatever the chunking.
    #[test]
    fn corruption_is_found_after_the_same_records_whatever_the_chunking(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..10),
        junk in "[^0-9]{1,8}",
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for r in &records {
            encode_into(r, &mut stream);
        }
        stream.extend_from_slice(junk.as_bytes());
        stream.extend_from_slice(b"\nmore");
        let (got, err) = run(&stream, &sorted_cuts(&cuts, stream.len()), 1 << 20);
        prop_assert_eq!(got, records);
        prop_assert!(matches!(err, Some(RecordIoError::InvalidHeader { .. })), "{:?}", err);
    }

    /// A valid stream cut short anywhere: the records wholly before the cut are delivered, and
    /// `finish` reports truncation exactly when the cut is not on a record boundary.
    #[test]
    fn truncation_anywhere_is_reported_unless_on_a_boundary(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..8),
        cut in any::<prop::sample::Index>(),
        chunks in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut stream = Vec::new();
        let mut boundaries = vec![0];
        for r in &records {
            encode_into(r, &mut stream);
            boundaries.push(stream.len());
        }
        let cut = cut.index(stream.len() + 1);
        let whole_before = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
        let (got, err) = run(&stream[..cut], &sorted_cuts(&chunks, cut), 1 << 20);
        prop_assert_eq!(&got[..], &records[..whole_before]);
        if boundaries.contains(&cut) {
            prop_assert_eq!(err, None);
        } else {
            prop_assert!(matches!(err, Some(RecordIoError::Truncated { .. })), "{:?}", err);
        }
    }
}

// --- The scheduler connection against a master that sends bad streams ---

fn config(master: &FakeMaster, max_record_size: usize) -> Config {
    let mut c = Config::new(master.url(), FrameworkInfo::new("root", "test-fw"));
    c.backoff =
        mesos::http::Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(40) };
    c.max_record_size = max_record_size;
    c
}

async fn next(rx: &mut UnboundedReceiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notice within 10 s")
        .expect("the connection is still running")
}

/// Waits for SUBSCRIBED and the fake master's first HEARTBEAT.
async fn subscribed(rx: &mut UnboundedReceiver<Notice>) {
    loop {
        match next(rx).await {
            Notice::Event(Event::Heartbeat) => return,
            Notice::Stopped { reason } => panic!("stopped: {reason}"),
            _ => {}
        }
    }
}

fn send_raw(master: &FakeMaster, bytes: &[u8]) {
    let inner = master.inner.lock().expect("lock");
    let tx = inner.events.as_ref().expect("a stream is open");
    tx.send(Bytes::copy_from_slice(bytes)).expect("stream receiver alive");
}

/// The notice after a bad stream is a disconnection naming the problem, then a new
/// subscription on a new stream.
async fn disconnects_then_resubscribes(
    master: &FakeMaster,
    rx: &mut UnboundedReceiver<Notice>,
) -> String {
    let reason = match next(rx).await {
        Notice::Disconnected { reason, .. } => reason,
        other => panic!("expected a disconnection, got {other:?}"),
    };
    let streams_before = master.inner.lock().expect("lock").streams;
    subscribed(rx).await;
    assert!(master.inner.lock().expect("lock").streams > streams_before, "a new stream was opened");
    reason
}

#[tokio::test]
async fn a_corrupt_recordio_header_makes_the_connection_resubscribe_with_the_reason() {
    let master = FakeMaster::start(Script::default()).await;
    let (_handle, mut rx) = connection::connect(config(&master, 1 << 20)).expect("connect");
    subscribed(&mut rx).await;
    send_raw(&master, b"12x\n{\"type\":\"HEARTBEAT\"}");
    let reason = disconnects_then_resubscribes(&master, &mut rx).await;
    assert!(reason.contains("is corrupt: invalid recordio header \"12x\""), "{reason}");
}

#[tokio::test]
async fn an_oversized_record_is_refused_at_its_header_and_the_connection_resubscribes() {
    let master = FakeMaster::start(Script::default()).await;
    let (_handle, mut rx) = connection::connect(config(&master, 4096)).expect("connect");
    subscribed(&mut rx).await;
    // Only the header is sent: the refusal must not wait for the 5 MB to arrive.
    send_raw(&master, b"5000000\n{\"type\":");
    let reason = disconnects_then_resubscribes(&master, &mut rx).await;
    assert!(
        reason.contains("recordio record of 5000000 bytes exceeds the maximum of 4096 bytes"),
        "{reason}"
    );
}

#[tokio::test]
async fn undecodable_and_unknown_events_do_not_break_the_subscription() {
    let master = FakeMaster::start(Script::default()).await;
    let (_handle, mut rx) = connection::connect(config(&master, 1 << 20)).expect("connect");
    subscribed(&mut rx).await;
    let mut stream = Vec::new();
    for record in [
        &b"{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\""[..], // broken JSON
        b"[1,2,3]",                                                   // not an object
        b"",                                                          // an empty record
        b"{\"type\":\"OFFERS\"}",                                     // payload missing
        b"{\"type\":\"FROM_MESOS_2\",\"from_mesos_2\":{\"x\":1}}",    // unknown type
        b"{\"type\":\"HEARTBEAT\"}",
    ] {
        encode_into(record, &mut stream);
    }
    // Split in awkward places, as a proxy might.
    for chunk in stream.chunks(7) {
        send_raw(&master, chunk);
    }
    assert_eq!(next(&mut rx).await, Notice::Event(Event::Unrecognized("FROM_MESOS_2".into())));
    assert_eq!(next(&mut rx).await, Notice::Event(Event::Heartbeat));
    let streams = master.inner.lock().expect("lock").streams;
    assert_eq!(streams, 1, "bad events are skipped, not a reason to re-subscribe");
}
