//! Source line numbers for CSV records read from any byte stream.

use std::io::{self, BufRead};

/// Tells the 1-based line a record starts on from its byte offset.
///
/// The csv reader's own line count is off after blank lines and CRLF endings, so
/// a second stream over the same bytes walks alongside it, counting newlines;
/// records come in order, so the walk reads the stream once.
pub(crate) struct LineCounter<R> {
    reader: R,
    offset: u64,
    line: u64,
}

impl<R: BufRead> LineCounter<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose reading began at byte `start`: the first
    /// byte at or after `start` that is not a line terminator.
    pub(crate) fn line_at(&mut self, start: u64) -> io::Result<u64> {
        while self.offset < start {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min((start - self.offset) as usize);
            self.line += memchr::memchr_iter(b'\n', &buf[..take]).count() as u64;
            self.reader.consume(take);
            self.offset += take as u64;
        }
        loop {
            let buf = self.reader.fill_buf()?;
            match buf.first() {
                Some(b'\n') => self.line += 1,
                Some(b'\r') => {}
                _ => return Ok(self.line),
            }
            self.reader.consume(1);
            self.offset += 1;
        }
    }
}
