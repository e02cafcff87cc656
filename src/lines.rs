//! Splits a byte stream into lines with a length cap, without ever holding
//! more than the cap in memory: the rest of an overlong line is skipped as it
//! streams by. Used for our stdin and for every upstream's output (stdout,
//! stderr, event streams), so a 20 MiB line costs no more than the cap.

use std::io::{self, BufRead, ErrorKind};

/// The largest line (one JSON-RPC message, one SSE field) we keep.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The bytes of one line, without its `\n` (nor a `\r` before it).
    Complete(Vec<u8>),
    /// A line longer than the cap; `length` is its full length in bytes.
    TooLong { length: usize },
}

/// How much of the start and of the end of an overlong line is kept (see
/// [`LineReader::overlong_ends`]).
const HEAD_KEPT: usize = 4096;
const TAIL_KEPT: usize = 256;

pub struct LineReader<R> {
    inner: R,
    max_len: usize,
    /// The first and last bytes of the last overlong line.
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max_len: usize) -> Self {
        LineReader {
            inner,
            max_len,
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// The first 4 KiB and the last 256 bytes of the last line that was
    /// [`Line::TooLong`]: enough to tell whose answer it was.
    pub fn overlong_ends(&self) -> (&[u8], &[u8]) {
        (&self.head, &self.tail)
    }

    /// The next line; `None` at end of input. A last line without a newline
    /// is still a line: a client that closes its end after writing has meant it.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut line = Vec::new();
        let mut length = 0usize;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok((length > 0).then(|| self.finish(line, length)));
            }
            let (chunk, used, ended) = match available.iter().position(|b| *b == b'\n') {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            let before = length;
            length = length.saturating_add(chunk.len());
            if length <= self.max_len {
                line.extend_from_slice(chunk);
            } else {
                if before <= self.max_len {
                    // Just went over: keep the start, drop the rest.
                    self.head.clear();
                    self.tail.clear();
                    let head = if line.is_empty() { chunk } else { &line[..] };
                    self.head
                        .extend_from_slice(&head[..head.len().min(HEAD_KEPT)]);
                    if !line.is_empty() {
                        line = Vec::new();
                    }
                }
                self.tail.extend_from_slice(chunk);
                let extra = self.tail.len().saturating_sub(TAIL_KEPT);
                self.tail.drain(..extra);
            }
            self.inner.consume(used);
            if ended {
                return Ok(Some(self.finish(line, length)));
            }
        }
    }

    fn finish(&self, mut line: Vec<u8>, length: usize) -> Line {
        if length > self.max_len {
            return Line::TooLong { length };
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Complete(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    fn lines(input: &[u8], max_len: usize, buffer: usize) -> Vec<Line> {
        let mut reader = LineReader::new(BufReader::with_capacity(buffer, input), max_len);
        let mut out = Vec::new();
        for _ in 0..100 {
            match reader.next_line().unwrap() {
                Some(line) => out.push(line),
                None => return out,
            }
        }
        panic!("no end of input after 100 lines");
    }

    fn complete(text: &str) -> Line {
        Line::Complete(text.as_bytes().to_vec())
    }

    #[test]
    fn splits_lines_and_strips_carriage_returns() {
        for buffer in [1, 3, 64] {
            assert_eq!(
                lines(b"a\r\nbb\n\nccc", 10, buffer),
                vec![complete("a"), complete("bb"), complete(""), complete("ccc")]
            );
        }
    }

    #[test]
    fn skips_overlong_lines_and_keeps_the_next_one() {
        for buffer in [1, 4, 1024] {
            assert_eq!(
                lines(b"12345\n123456789\nok\n1234567", 5, buffer),
                vec![
                    complete("12345"),
                    Line::TooLong { length: 9 },
                    complete("ok"),
                    Line::TooLong { length: 7 },
                ]
            );
        }
    }

    #[test]
    fn the_ends_of_an_overlong_line_are_kept() {
        for buffer in [1, 7, 1024] {
            let mut text = b"{\"id\":5,".to_vec();
            text.extend(std::iter::repeat_n(b'x', 10_000));
            text.extend_from_slice(b"END}\nok\n");
            let mut reader = LineReader::new(BufReader::with_capacity(buffer, &text[..]), 100);
            assert_eq!(
                reader.next_line().unwrap(),
                Some(Line::TooLong { length: 10_012 })
            );
            let (head, tail) = reader.overlong_ends();
            assert!(head.starts_with(b"{\"id\":5,xx"), "{buffer}");
            assert!(head.len() <= HEAD_KEPT);
            assert_eq!(tail.len(), TAIL_KEPT);
            assert!(tail.ends_with(b"xxEND}"), "{buffer}");
            assert_eq!(reader.next_line().unwrap(), Some(complete("ok")));
        }
    }

    #[test]
    fn an_overlong_line_is_not_buffered_whole() {
        struct Endless {
            remaining: usize,
        }
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.remaining);
                buf[..n].fill(b'x');
                self.remaining -= n;
                if self.remaining == 0 && n > 0 {
                    buf[n - 1] = b'\n';
                }
                Ok(n)
            }
        }
        let mut reader = LineReader::new(
            BufReader::with_capacity(
                4096,
                Endless {
                    remaining: 64 << 20,
                },
            ),
            1024,
        );
        assert_eq!(
            reader.next_line().unwrap(),
            Some(Line::TooLong {
                length: (64 << 20) - 1
            })
        );
        assert_eq!(reader.next_line().unwrap(), None);
    }

    #[test]
    fn retries_interrupted_reads_and_reports_other_errors() {
        struct Flaky {
            calls: usize,
        }
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.calls += 1;
                match self.calls {
                    1 => Err(ErrorKind::Interrupted.into()),
                    2 => {
                        buf[..3].copy_from_slice(b"hi\n");
                        Ok(3)
                    }
                    _ => Err(ErrorKind::BrokenPipe.into()),
                }
            }
        }
        let mut reader = LineReader::new(BufReader::new(Flaky { calls: 0 }), 10);
        assert_eq!(reader.next_line().unwrap(), Some(complete("hi")));
        assert_eq!(
            reader.next_line().unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    }
}
