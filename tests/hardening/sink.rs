//! A platform stand-in that reads and discards request bodies: for upload
//! tests whose bodies the simulator would keep in memory. Every upload is
//! answered with `files_per_upload` stored-file descriptions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

pub struct Sink {
    pub url: String,
    pub uploads: Arc<AtomicUsize>,
}

impl Sink {
    pub fn start(files_per_upload: usize) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let uploads = Arc::new(AtomicUsize::new(0));
        let counter = uploads.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                thread::spawn(move || serve(stream, &counter, files_per_upload));
            }
        });
        Sink { url, uploads }
    }
}

fn serve(stream: TcpStream, uploads: &AtomicUsize, files: usize) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0u64;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut left = len;
        let mut chunk = vec![0u8; 64 * 1024];
        while left > 0 {
            let n = chunk.len().min(left as usize);
            if reader.read_exact(&mut chunk[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
        let body = if request_line.contains("/chat/uploads") {
            uploads.fetch_add(1, Ordering::SeqCst);
            let list: Vec<String> = (0..files)
                .map(|i| format!("{{\"uri\":\"platform://u{i}\",\"name\":\"f\",\"size\":1}}"))
                .collect();
            format!("{{\"files\":[{}]}}", list.join(","))
        } else {
            "{}".to_string()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}
