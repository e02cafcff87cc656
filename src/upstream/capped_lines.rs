//! Lines from a server's pipe or event stream, each capped: the rest of an
//! overlong line is skipped as it streams by, so a 20 MiB line costs no more
//! memory than the cap.

use std::io::{self, BufRead, ErrorKind};

/// The largest line (one JSON-RPC message, one SSE field) we keep.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Without its `\n` (nor a `\r` before it).
    Full(Vec<u8>),
    /// Longer than the cap; `length` is how long it was.
    Overlong { length: usize },
}

pub struct CappedLines<R> {
    inner: R,
    cap: usize,
}

impl<R: BufRead> CappedLines<R> {
    pub fn new(inner: R, cap: usize) -> Self {
        CappedLines { inner, cap }
    }

    /// The next line, `None` at the end. A last line without a newline still
    /// counts: a server that exits after writing it has meant it.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut kept = Vec::new();
        let mut length = 0usize;
        loop {
            let buffer = match self.inner.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buffer.is_empty() {
                return Ok((length > 0).then(|| self.finish(kept, length)));
            }
            let newline = buffer.iter().position(|b| *b == b'\n');
            let piece = &buffer[..newline.unwrap_or(buffer.len())];
            length = length.saturating_add(piece.len());
            if length <= self.cap {
                kept.extend_from_slice(piece);
            } else {
                kept = Vec::new();
            }
            let used = newline.map_or(buffer.len(), |at| at + 1);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(Some(self.finish(kept, length)));
            }
        }
    }

    fn finish(&self, mut kept: Vec<u8>, length: usize) -> Line {
        if length > self.cap {
            return Line::Overlong { length };
        }
        if kept.last() == Some(&b'\r') {
            kept.pop();
        }
        Line::Full(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn all(input: &[u8], cap: usize, buffer: usize) -> Vec<Line> {
        let mut lines = CappedLines::new(BufReader::with_capacity(buffer, input), cap);
        let mut out = Vec::new();
        for _ in 0..100 {
            match lines.next_line() {
                Ok(Some(line)) => out.push(line),
                Ok(None) => return out,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("more lines than expected")
    }

    #[test]
    fn splits_and_strips_carriage_returns() {
        assert_eq!(
            all(b"a\r\nbc\n\nlast", 10, 2),
            vec![
                Line::Full(b"a".to_vec()),
                Line::Full(b"bc".to_vec()),
                Line::Full(Vec::new()),
                Line::Full(b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_one_kept() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(
            all(&input, 10, 4),
            vec![Line::Overlong { length: 50 }, Line::Full(b"ok".to_vec())]
        );
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_kept() {
        assert_eq!(all(b"12345\n", 5, 3), vec![Line::Full(b"12345".to_vec())]);
    }
}
