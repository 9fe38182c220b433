//! Bounds on what `sentinel import` reads, so any file ends in a clear error with
//! bounded memory (`sentinel import /dev/zero` stops after 64 KiB).
//!
//! The csv crate reads record by record, but a record without an end (no newline,
//! or a quote that is never closed) grows its buffer without limit. [`RecordCap`]
//! sits under the csv reader and counts the bytes of the current record (a quoted
//! newline does not end it; CSV quoting toggles on every `"`, so `""` escapes keep
//! the parity right); past [`MAX_RECORD_BYTES`] it hands over what came before and
//! then fails with [`RecordTooLong`], naming the line where that record began.
//! Nothing beyond it is read.

use std::io::{self, Read};

/// At most this many bytes in one CSV record (a parcel row is a short line).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// At most this many bytes in one field of a row.
pub const MAX_FIELD_BYTES: usize = 1024;

/// A record longer than the cap; the `io::Error` that carries it is `InvalidData`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: longer than {limit} bytes; stopped reading there (is this a CSV file of parcels?)")]
pub struct RecordTooLong {
    /// The (1-based) line where the record began.
    pub line: u64,
    pub limit: usize,
}

impl RecordTooLong {
    /// The record error inside a csv error, if that is what it is.
    pub fn of(e: &csv::Error) -> Option<&RecordTooLong> {
        match e.kind() {
            csv::ErrorKind::Io(io) => io.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

/// A reader that refuses a CSV record longer than `limit` bytes (see the module
/// docs).
pub struct RecordCap<R> {
    inner: R,
    limit: usize,
    /// The current line, 1-based.
    line: u64,
    /// The line where the current record began.
    record_line: u64,
    record_len: usize,
    in_quotes: bool,
    failed: Option<RecordTooLong>,
}

impl<R: Read> RecordCap<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            limit,
            line: 1,
            record_line: 1,
            record_len: 0,
            in_quotes: false,
            failed: None,
        }
    }

    fn error(e: &RecordTooLong) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.clone())
    }
}

impl<R: Read> Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(Self::error(e));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf.iter().take(n).enumerate() {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' => self.line += 1,
                _ => {}
            }
            if !self.in_quotes && (b == b'\n' || b == b'\r') {
                self.record_len = 0;
                self.record_line = self.line;
                continue;
            }
            self.record_len += 1;
            if self.record_len > self.limit {
                let e = RecordTooLong {
                    line: self.record_line,
                    limit: self.limit,
                };
                let err = Self::error(&e);
                self.failed = Some(e);
                // Hand over what came before; the next read fails.
                return if i > 0 { Ok(i) } else { Err(err) };
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], limit: usize) -> (Vec<u8>, Option<RecordTooLong>) {
        let mut r = RecordCap::new(input, limit);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    let inner = e.into_inner().unwrap();
                    return (out, Some(*inner.downcast::<RecordTooLong>().unwrap()));
                }
            }
        }
    }

    #[test]
    fn short_records_pass_through() {
        let input = b"a,b\r\n\"x\ny\",2\n\"\"\"q\"\"\",3\n";
        assert_eq!(read_all(input, 9), (input.to_vec(), None));
    }

    #[test]
    fn a_long_record_stops_the_reading_at_its_line() {
        let (out, e) = read_all(b"ab\ncd\nefghij\nkl\n", 3);
        assert_eq!(out, b"ab\ncd\nefg");
        assert_eq!(e, Some(RecordTooLong { line: 3, limit: 3 }));
        // A quoted newline does not end a record.
        let (_, e) = read_all(b"h\n\"a\nb\nc\nd\"\n", 5);
        assert_eq!(e, Some(RecordTooLong { line: 2, limit: 5 }));
        // An endless input.
        let mut r = RecordCap::new(io::repeat(0), 1000);
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).unwrap_err();
        assert!(sink.len() <= 1000);
        assert_eq!(e.to_string().split(':').next(), Some("line 1"));
    }
}
