//! A deliberately small HTTP/1.1 server for the platform simulator.
//!
//! One request per connection, every answer says `Connection: close`. That
//! keeps the client's view honest: when the simulator stops, the next request
//! fails to connect instead of hanging on a pooled socket, and a scripted
//! failure can drop the socket without answering (a general-purpose server
//! such as tiny_http always writes a 500 when a request is dropped).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Request heads larger than this are refused: nothing legitimate comes close.
const MAX_HEAD: usize = 64 * 1024;
/// Bodies larger than this are refused (uploads in tests are far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// A client that connects and then says nothing must not pin a thread forever.
const IDLE_READ: Duration = Duration::from_secs(10);
/// How long `Drop` waits for connection threads to notice the stop.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// A request as read off the socket. Header names are lower-cased.
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the connection thread does with a request.
pub enum Answer {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Drop the connection without writing a byte.
    Close,
}

/// The handler runs on the connection's own thread; it may block (scripted
/// hangs and delays) as long as it waits through `Stopper::sleep`.
pub type Handler = dyn Fn(HttpRequest, &Stopper) -> Answer + Send + Sync;

/// Shared stop signal: wakes sleeping handlers and shuts open sockets.
pub struct Stopper {
    stopped: Mutex<bool>,
    wake: Condvar,
    open: Mutex<HashMap<u64, TcpStream>>,
    live: Mutex<usize>,
    idle: Condvar,
}

impl Stopper {
    /// Waits `d` unless the server stops first. Returns false on stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = relock(&self.stopped);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            stopped = match self.wake.wait_timeout(stopped, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        false
    }

    pub fn is_stopped(&self) -> bool {
        *relock(&self.stopped)
    }
}

pub struct HttpServer {
    addr: SocketAddr,
    stopper: Arc<Stopper>,
    stop_accept: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn bind(port: u16, handler: Arc<Handler>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stopper = Arc::new(Stopper {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            open: Mutex::new(HashMap::new()),
            live: Mutex::new(0),
            idle: Condvar::new(),
        });
        let stop_accept = Arc::new(AtomicBool::new(false));
        let accept = {
            let stopper = stopper.clone();
            let stop_accept = stop_accept.clone();
            thread::Builder::new()
                .name("sim-accept".into())
                .spawn(move || accept_loop(listener, handler, stopper, stop_accept))?
        };
        Ok(HttpServer {
            addr,
            stopper,
            stop_accept,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_accept.store(true, Ordering::SeqCst);
        *relock(&self.stopper.stopped) = true;
        self.stopper.wake.notify_all();
        // The accept call blocks; one throwaway connection wakes it. Should
        // that fail, the accept thread is left to end on its next client
        // rather than blocking the test here.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok();
        if let Some(accept) = self.accept.take().filter(|_| woke) {
            let _ = accept.join();
        }
        for (_, stream) in relock(&self.stopper.open).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut live = relock(&self.stopper.live);
        while *live > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            live = match self.stopper.idle.wait_timeout(live, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    stopper: Arc<Stopper>,
    stop: Arc<AtomicBool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or similar: pause instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            relock(&stopper.open).insert(id, clone);
        }
        *relock(&stopper.live) += 1;
        let handler = handler.clone();
        let conn_stopper = stopper.clone();
        let spawned = thread::Builder::new()
            .name("sim-conn".into())
            .spawn(move || {
                serve_connection(stream, &*handler, &conn_stopper);
                relock(&conn_stopper.open).remove(&id);
                let mut live = relock(&conn_stopper.live);
                *live = live.saturating_sub(1);
                conn_stopper.idle.notify_all();
            });
        if spawned.is_err() {
            relock(&stopper.open).remove(&id);
            *relock(&stopper.live) -= 1;
        }
    }
}

fn serve_connection(stream: TcpStream, handler: &Handler, stopper: &Stopper) {
    let _ = stream.set_read_timeout(Some(IDLE_READ));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    let request = match read_request(&mut reader, &mut writer) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(msg) => {
            let _ = write_response(&mut writer, 400, &[], msg.as_bytes());
            return;
        }
    };
    if stopper.is_stopped() {
        return;
    }
    match handler(request, stopper) {
        Answer::Respond {
            status,
            headers,
            body,
        } => {
            let _ = write_response(&mut writer, status, &headers, &body);
            let _ = writer.shutdown(Shutdown::Write);
        }
        Answer::Close => {
            let _ = writer.shutdown(Shutdown::Both);
        }
    }
}

/// Reads one request. `Ok(None)` when the peer closed before sending one.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<HttpRequest>, String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        match reader.read_until(b'\n', &mut head) {
            Ok(0) if head.is_empty() => return Ok(None),
            Ok(0) => return Err("connection closed inside the request head".into()),
            Ok(_) => {}
            Err(_) if head.is_empty() => return Ok(None),
            Err(e) => return Err(format!("reading the request head: {e}")),
        }
        if head.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let line = &head[before..];
        if (line == b"\r\n" || line == b"\n") && before > 0 {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line".into());
    };
    if !version.starts_with("HTTP/1.") {
        return Err("only HTTP/1.x is served".into());
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err("malformed header line".into());
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let mut request = HttpRequest {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    request.body = if chunked {
        read_chunked(reader)?
    } else {
        let len = match request.header("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| "bad content-length".to_string())?,
            None => 0,
        };
        if len > MAX_BODY {
            return Err("request body too large".into());
        }
        let mut body = vec![0; len];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading the request body: {e}"))?;
        body
    };
    Ok(Some(request))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading a chunk size: {e}"))?;
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size".to_string())?;
        if body.len() + size > MAX_BODY {
            return Err("request body too large".into());
        }
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                let mut trailer = String::new();
                let n = reader.read_line(&mut trailer).unwrap_or(0);
                if n == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("reading a chunk: {e}"))?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|e| format!("reading a chunk end: {e}"))?;
    }
}

/// Writes a complete answer. `Content-Length` is added unless the caller set
/// its own framing (a scripted reply may lie about the length on purpose).
fn write_response(
    w: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut framed = false;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        framed |= lower == "content-length" || lower == "transfer-encoding";
        if lower == "connection" {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !framed {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A lock that survives a panicked holder: one broken handler must not take
/// the whole simulator down with it.
pub fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
