//! True line numbers for `sentinel import` after blank lines and in CRLF files.
//!
//! The csv crate takes a record's position before it skips what comes first, so
//! the position names the wrong line (BurntSushi/rust-csv#208, still open):
//! after blank lines it names the first blank line ("line 3: bad carrier" for a
//! row on line 5), and in a file with `\r\n` line ends (what spreadsheets
//! export) every row is named one line early, since the `\n` after a record's
//! `\r` is only consumed with the next record. [`BlankLines`] sits under the csv
//! reader and removes both causes: every blank line between records gets one
//! space (a record whose one field trims to nothing, which the import skips like
//! the blank line it was), and the `\r` of a `\r\n` is dropped (a `\n` alone
//! ends the record just the same).
//!
//! Only line ends *between* fields are touched: the reader follows csv's own
//! quoting (a `"` opens a quoted field only at the start of a field; `""` inside
//! one is a quote; after the closing quote the field goes on unquoted), so a
//! line end inside a quoted value is data and passes as it is. Blank lines
//! before the first record (the header) are left to csv.

use std::collections::VecDeque;
use std::io::{self, Read};

/// Where the bytes read so far leave us, in csv's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing but line ends yet.
    BeforeFirst,
    /// At the start of a record (just after a line end).
    RecordStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: a second `"` is a quote, anything else
    /// closes the quotes.
    QuoteInQuoted,
}

/// A reader that puts a space on every blank line between CSV records and
/// turns `\r\n` into `\n` (see the module docs).
pub struct BlankLines<R> {
    inner: R,
    state: State,
    /// A `\r` ending a line, held until the next byte says whether a `\n`
    /// follows.
    held_cr: bool,
    /// Bytes ready for the caller.
    pending: VecDeque<u8>,
}

impl<R: Read> BlankLines<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: State::BeforeFirst,
            held_cr: false,
            pending: VecDeque::new(),
        }
    }

    /// Feeds one byte of the input.
    fn push(&mut self, b: u8) {
        use State::*;
        if std::mem::take(&mut self.held_cr) {
            if b == b'\n' {
                // `\r\n`: one line end, written as `\n`.
                self.pending.push_back(b'\n');
                return;
            }
            self.pending.push_back(b'\r');
        }
        if (b == b'\n' || b == b'\r') && self.state != Quoted {
            if self.state == RecordStart {
                // A blank line between records.
                self.pending.push_back(b' ');
            }
            if self.state != BeforeFirst {
                self.state = RecordStart;
            }
            if b == b'\r' {
                self.held_cr = true;
            } else {
                self.pending.push_back(b);
            }
            return;
        }
        self.state = match (self.state, b) {
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') => Quoted,
            (_, b',') => FieldStart,
            (BeforeFirst | RecordStart | FieldStart, b'"') => Quoted,
            _ => Unquoted,
        };
        self.pending.push_back(b);
    }

    fn drain(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match self.pending.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }
}

impl<R: Read> Read for BlankLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.drain(buf);
            if n > 0 {
                return Ok(n);
            }
            let mut chunk = [0u8; 4096];
            let want = buf.len().min(chunk.len());
            let got = self.inner.read(&mut chunk[..want])?;
            if got == 0 {
                // The end: a held `\r` is the last line end.
                if std::mem::take(&mut self.held_cr) {
                    self.pending.push_back(b'\r');
                    continue;
                }
                return Ok(0);
            }
            for &b in &chunk[..got] {
                self.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut r = BlankLines::new(input);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match r.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn blank_lines_between_records_get_a_space_and_crlf_becomes_lf() {
        for chunk in [1, 2, 3, 64] {
            assert_eq!(through(b"h\n\nSF,1\n", chunk), b"h\n \nSF,1\n");
            assert_eq!(through(b"h\r\n\r\nSF,1\r\n", chunk), b"h\n \nSF,1\n");
            // Leading blank lines are csv's to skip; a quoted line end is data.
            assert_eq!(
                through(b"\n\nh\n\"a\r\n\nb\",1\n", chunk),
                b"\n\nh\n\"a\r\n\nb\",1\n"
            );
            // A quote inside an unquoted field is a character, not a quote.
            assert_eq!(through(b"h\na\"b\n\nc\n", chunk), b"h\na\"b\n \nc\n");
            // "" inside quotes is a quote; the closing quote ends the quoting.
            assert_eq!(
                through(b"h\n\"a\"\"\n\"x\n\n", chunk),
                b"h\n\"a\"\"\n\"x\n \n"
            );
            // A lone \r still ends a line, also the last one.
            assert_eq!(through(b"h\rSF,1\r", chunk), b"h\rSF,1\r");
        }
    }
}
