//! The scripted HTTP/1.1 test server on 127.0.0.1: one request per
//! connection, every request recorded, answers scripted by a closure. It
//! can stream events and then hang, or drop the connection after reading a
//! request, which general-purpose servers cannot. The HTTP transport tests
//! script MCP servers with it, the hardening tests a header-echoing MCP
//! server and a platform that swallows uploads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const MAX_HEAD: usize = 64 * 1024;
/// How much of a body is kept: a longer one is read to its end (so a
/// 50 MiB upload costs the test no memory) and cut.
const KEPT_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The first `KEPT_BODY` bytes of the body.
    pub body: String,
    /// The body's whole length.
    pub length: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn rpc_method(&self) -> String {
        self.json()["method"].as_str().unwrap_or("").to_string()
    }
}

pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// `text/event-stream`: the events, then the connection stays open for
    /// `hang` (bounded, and cut short when the server stops) before closing.
    Stream { events: Vec<String>, hang: Duration },
    /// `text/event-stream`: `event` again every `every` for `span` (bounded,
    /// and cut short when the server stops or the client is gone).
    Trickle {
        event: String,
        every: Duration,
        span: Duration,
    },
    /// Read the request, answer nothing, close.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn status(status: u16, content_type: &str, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Loopback {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stopped: Arc<AtomicBool>,
}

impl Loopback {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Loopback {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener,
            Err(e) => panic!("cannot listen on 127.0.0.1: {e}"),
        };
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let seen = seen.clone();
            let stopped = stopped.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (seen, stopped, handler) = (seen.clone(), stopped.clone(), handler.clone());
                    thread::spawn(move || serve(stream, &seen, &stopped, &*handler));
                }
            });
        }
        Loopback {
            addr,
            seen,
            stopped,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose JSON-RPC method is `method`.
    pub fn seen_rpc(&self, method: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.rpc_method() == method)
            .collect()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, stopped: &AtomicBool, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    seen.lock().unwrap().push(request.clone());
    let mut out = stream;
    match handler(&request) {
        Reply::Drop => {}
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(&body);
        }
        Reply::Stream { events, hang } => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let _ = out.write_all(head.as_bytes());
            for event in events {
                let _ = out.write_all(event.as_bytes());
                let _ = out.flush();
            }
            let until = Instant::now() + hang;
            while Instant::now() < until && !stopped.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
        }
        Reply::Trickle { event, every, span } => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let _ = out.write_all(head.as_bytes());
            let until = Instant::now() + span;
            while Instant::now() < until && !stopped.load(Ordering::SeqCst) {
                if out
                    .write_all(event.as_bytes())
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    return;
                }
                thread::sleep(every);
            }
        }
    }
    let _ = out.flush();
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    let mut headers = Vec::new();
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(line.as_bytes());
        if head.len() > MAX_HEAD {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if request_line.is_empty() {
            request_line = line.to_string();
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(KEPT_BODY)];
    reader.read_exact(&mut body).ok()?;
    let mut left = length - body.len();
    let mut chunk = vec![0; left.min(64 * 1024)];
    while left > 0 {
        let n = left.min(chunk.len());
        reader.read_exact(&mut chunk[..n]).ok()?;
        left -= n;
    }
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        length,
    })
}
