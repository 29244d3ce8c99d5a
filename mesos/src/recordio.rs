//! RecordIO framing of the event streams: `<decimal byte count>\n<bytes>` repeated, no delimiter
//! after the data. An encoder, and an incremental decoder that accepts any chunking.
//!
//! The decoder is throughput friendly: [`Decoder::feed`] appends bytes (amortised O(n)),
//! [`Decoder::next_record`] pulls complete records out without copying them again (each is a
//! zero-copy [`bytes::Bytes`] slice of the buffer). Work is linear in the input size for any
//! chunking, and a record larger than the configured maximum is refused as soon as its header is
//! read, before it is buffered.

use bytes::{Buf, Bytes, BytesMut};

/// The default maximum record size: 64 MiB (a huge OFFERS event is a few MB).
pub const DEFAULT_MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;

/// How far ahead of the bytes received the buffer grows for a pending record; growth past it is
/// amortised by `BytesMut`, so decoding stays linear.
const RESERVE_AHEAD: usize = 1 << 20;

/// A header longer than this cannot be a valid uint64 size.
const MAX_HEADER_LEN: usize = 20;

/// Why a RecordIO stream cannot be decoded. All are fatal: the stream cannot be resynchronised.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordIoError {
    /// The size header is empty, not decimal digits, or too long.
    #[error(
        "invalid recordio header {found:?}: expected decimal digits followed by a newline; \
         the stream is corrupt and must be reopened"
    )]
    InvalidHeader { found: String },
    /// The header announces a record larger than the configured maximum.
    #[error("recordio record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { size: u64, max: usize },
    /// The stream ended inside a header or a record.
    #[error("recordio stream ended in the middle of a record ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
}

/// Appends one framed record to `out`.
pub fn encode_into(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
}

/// One framed record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 8);
    encode_into(record, &mut out);
    out
}

/// Incremental RecordIO decoder: feed bytes as they arrive, pull complete records.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_record_size: usize,
    /// Size of the record being collected, once its header has been read.
    pending: Option<usize>,
    /// Bytes of `buf` already searched for the header's newline.
    scanned: usize,
    failed: Option<RecordIoError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_SIZE)
    }
}

impl Decoder {
    /// A decoder that refuses records larger than `max_record_size` bytes.
    pub fn new(max_record_size: usize) -> Self {
        Self { buf: BytesMut::new(), max_record_size, pending: None, scanned: 0, failed: None }
    }

    /// Appends bytes received from the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete record, `Ok(None)` if more bytes are needed, or the fatal error (which
    /// is returned again on every later call).
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(r) => Ok(r),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        let size = match self.pending {
            Some(size) => size,
            None => {
                let Some(newline) = self.buf[self.scanned..].iter().position(|&b| b == b'\n')
                else {
                    self.scanned = self.buf.len();
                    if self.buf.len() > MAX_HEADER_LEN || !self.buf.iter().all(u8::is_ascii_digit) {
                        return Err(invalid_header(&self.buf));
                    }
                    return Ok(None);
                };
                let header_len = self.scanned + newline;
                let header = &self.buf[..header_len];
                if header.is_empty()
                    || header_len > MAX_HEADER_LEN
                    || !header.iter().all(u8::is_ascii_digit)
                {
                    return Err(invalid_header(header));
                }
                let size: u64 = std::str::from_utf8(header)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid_header(header))?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|&s| s <= self.max_record_size)
                    .ok_or(RecordIoError::RecordTooLarge { size, max: self.max_record_size })?;
                self.buf.advance(header_len + 1);
                self.scanned = 0;
                self.pending = Some(size);
                size
            }
        };
        if self.buf.len() < size {
            // Grow ahead by at most RESERVE_AHEAD: the header alone must not make us allocate
            // what it announces (a 21-byte header can announce u64::MAX when no maximum is set).
            self.buf.reserve((size - self.buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(self.buf.split_to(size).freeze()))
    }

    /// Feeds `chunk` and returns every record it completed.
    pub fn decode(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        self.feed(chunk);
        let mut records = Vec::new();
        while let Some(r) = self.next_record()? {
            records.push(r);
        }
        Ok(records)
    }

    /// Call at end of stream: an error if the stream stopped inside a header or a record.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.pending.is_some() || !self.buf.is_empty() {
            return Err(RecordIoError::Truncated { buffered: self.buf.len() });
        }
        Ok(())
    }
}

fn invalid_header(bytes: &[u8]) -> RecordIoError {
    let shown = &bytes[..bytes.len().min(32)];
    RecordIoError::InvalidHeader { found: String::from_utf8_lossy(shown).into_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_sticky() {
        let mut d = Decoder::default();
        assert!(d.decode(b"1x\n").is_err());
        assert!(d.decode(b"2\nab").is_err(), "a corrupt stream never recovers");
    }

    #[test]
    fn oversized_record_is_refused_before_buffering() {
        let mut d = Decoder::new(10);
        assert_eq!(d.decode(b"11\n"), Err(RecordIoError::RecordTooLarge { size: 11, max: 10 }));
        let mut d = Decoder::new(10);
        assert!(matches!(
            d.decode(b"99999999999999999999999\n"),
            Err(RecordIoError::InvalidHeader { .. })
        ));
    }
}
