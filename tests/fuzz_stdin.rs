//! A bounded randomized test ("fuzzing" on stable Rust) of what reads the
//! agent's input: the capped line reader, the JSON-RPC parser and the whole
//! MCP server loop. Inputs are seeds from `tests/fuzz/stdin/` mutated at
//! random; each run lasts `MOLECULE_MCP_FUZZ_SECS` (default 5) and prints
//! its seed, so a failure is replayed with `MOLECULE_MCP_FUZZ_SEED=<seed>`.
//!
//! Properties: nothing panics; the line reader accounts for every byte;
//! the server ends when its input does, and every line it writes is one
//! JSON-RPC object.

use std::io::{self, BufReader, Cursor, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use molecule_mcp::lines::{Line, LineReader};
use molecule_mcp::mcp::context::CallContext;
use molecule_mcp::mcp::handler::Handler;
use molecule_mcp::mcp::jsonrpc::{parse_line, RpcError};
use molecule_mcp::mcp::server::{serve, EndReason, ServerOptions};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// Pieces that steer mutations toward the parser's corners.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "\n",
    "\r\n",
    ",",
    ":",
    "\"id\":",
    "\"jsonrpc\":\"2.0\"",
    "\"method\":\"tools/call\"",
    "\"method\":\"initialize\"",
    "\"params\":",
    "null",
    "true",
    "1e999",
    "-0",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\u{feff}",
    "\u{2028}",
    "\"method\":\"notifications/cancelled\"",
    "\"requestId\":",
];

/// A small, fast, reproducible generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/stdin");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no seed corpus in {}: {e}", dir.display()))
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .collect();
    assert!(!seeds.is_empty(), "the seed corpus is empty");
    seeds.sort();
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(9) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 => {
                let end = (at + rng.below(32)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let piece = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                data.splice(at..at, piece.iter().copied());
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            5 => {
                let open = if rng.below(2) == 0 { "[" } else { "{\"a\":" };
                let nested = open.repeat(1 + rng.below(400));
                data.splice(at..at, nested.bytes());
            }
            6 => {
                // A line longer than the server's cap in this test.
                let long = vec![b'x'; 4096 + rng.below(4096)];
                data.splice(at..at, long);
            }
            7 => data.truncate(at),
            _ => {
                let end = (at + rng.below(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
        }
    }
    data
}

/// The line reader keeps every byte of short lines and the length of long
/// ones, whatever the buffer size.
fn check_line_reader(data: &[u8], rng: &mut Rng) {
    let cap = 1 + rng.below(256);
    let buffer = 1 + rng.below(64);
    let mut reader = LineReader::new(BufReader::with_capacity(buffer, data), cap);
    let mut accounted = 0usize;
    let mut lines = 0usize;
    while let Some(line) = reader.next_line().expect("reading a slice cannot fail") {
        lines += 1;
        assert!(lines <= data.len() + 1, "more lines than bytes");
        match line {
            Line::Complete(bytes) => {
                assert!(bytes.len() <= cap);
                let end = accounted + bytes.len();
                assert_eq!(&data[accounted..end], &bytes[..]);
                accounted = end;
                // A `\r` ending the line (before `\n` or the end) is dropped.
                let line_end = matches!(data.get(accounted + 1), Some(&b'\n') | None);
                if data.get(accounted) == Some(&b'\r') && line_end {
                    accounted += 1;
                }
            }
            Line::TooLong { length } => {
                assert!(length > cap);
                accounted += length;
            }
        }
        if data.get(accounted) == Some(&b'\n') {
            accounted += 1;
        }
    }
    assert_eq!(accounted, data.len(), "bytes unaccounted for");
}

struct Echo;

impl Handler for Echo {
    fn instructions(&self) -> String {
        "fuzz".into()
    }

    fn list_tools(&self) -> Vec<Box<RawValue>> {
        let echo = json!({"name": "echo", "inputSchema": {"type": "object"}});
        vec![serde_json::value::to_raw_value(&echo).unwrap()]
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        _ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        match name {
            "echo" => Ok(json!({"content": [{"type": "text",
                "text": arguments.get("text").cloned().unwrap_or_default().to_string()}]})),
            _ => Err(RpcError::invalid_params(format!("unknown tool: {name}"))),
        }
    }
}

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The whole server on `data`: it ends with its input, and every line it
/// wrote is a JSON-RPC object.
fn check_server(data: Vec<u8>) {
    let output = Collected::default();
    let (_shutdown, shutdown_rx) = bounded::<()>(0);
    let (done_tx, done) = bounded(1);
    let out = output.clone();
    let options = ServerOptions {
        workers: 2,
        max_line_bytes: 4096,
        shutdown_grace: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    std::thread::spawn(move || {
        let end = serve(Cursor::new(data), out, Arc::new(Echo), options, shutdown_rx);
        let _ = done_tx.send(end);
    });
    let end = done
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not end after its input did");
    assert_eq!(end.reason, EndReason::InputClosed);
    let written = output.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let text = String::from_utf8(written).expect("output is UTF-8");
    for line in text.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("output line is not JSON ({e}): {line}"));
        assert_eq!(value["jsonrpc"], "2.0", "{line}");
        assert!(
            value.get("id").is_some() || value.get("method").is_some(),
            "{line}"
        );
    }
}

#[test]
fn stdin_reader_and_json_rpc_parser_survive_random_input() {
    let seconds: f64 = std::env::var("MOLECULE_MCP_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let seed = std::env::var("MOLECULE_MCP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("fuzz seed {seed} (replay with MOLECULE_MCP_FUZZ_SEED={seed})");
    let seeds = seeds();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut cases, mut served) = (0u64, 0u64);
    // Every seed as it is first, then mutations until the time is up.
    while cases < 1_000_000 && (cases < seeds.len() as u64 || Instant::now() < deadline) {
        let data = match seeds.get(cases as usize) {
            Some(seed) => seed.clone(),
            None => mutate(&mut rng, &seeds),
        };
        let case_seed = rng.next();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut case_rng = Rng(case_seed | 1);
            for line in data.split(|b| *b == b'\n') {
                let _ = parse_line(line);
            }
            check_line_reader(&data, &mut case_rng);
        }));
        if let Err(panic) = outcome {
            panic!(
                "case {cases} of seed {seed} failed on input {:?}: {panic:?}",
                String::from_utf8_lossy(&data)
            );
        }
        if cases % 25 == 0 {
            check_server(data);
            served += 1;
        }
        cases += 1;
    }
    eprintln!("fuzz: {cases} inputs, {served} through the whole server");
    assert!(cases >= seeds.len() as u64);
}
