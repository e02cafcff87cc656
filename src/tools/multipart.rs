//! The `multipart/form-data` body of a chat upload (RFC 7578): one `files`
//! part per file. Written by hand because it is a page of code and the only
//! multipart body we send.

use std::io::{self, Read};

use super::uuid;

/// One file to upload, read only while the body is written.
pub struct FilePart {
    /// The file name shown to the user (no directories).
    pub name: String,
    pub mime_type: String,
    /// Exactly this many bytes are sent.
    pub len: u64,
    pub content: Box<dyn Read + Send>,
}

/// The content type (with its boundary) and the body for these files.
pub fn encode(files: Vec<FilePart>) -> io::Result<(String, Vec<u8>)> {
    let boundary = format!("molecule-mcp-{}", uuid::v4().replace('-', ""));
    encode_with(&boundary, files)
}

/// As [`encode`], with a chosen boundary. The boundary must not occur in any
/// file; a random 128-bit one never does in practice. Each file is read
/// straight into the body (no second copy); one that is shorter or longer
/// than its announced length fails the whole body.
pub fn encode_with(boundary: &str, files: Vec<FilePart>) -> io::Result<(String, Vec<u8>)> {
    let size: u64 = files.iter().map(|f| f.len + 256).sum();
    let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 64);
    for file in files {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n",
                quoted_name(&file.name)
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!("Content-Type: {}\r\n\r\n", header_safe(&file.mime_type)).as_bytes(),
        );
        let before = body.len() as u64;
        file.content.take(file.len + 1).read_to_end(&mut body)?;
        if body.len() as u64 - before != file.len {
            return Err(io::Error::other(format!(
                "{} changed size while it was read",
                file.name
            )));
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// A file name inside a quoted header parameter: quotes, backslashes and
/// line breaks are percent-encoded, as browsers do, so a name can never end
/// the parameter or the header.
fn quoted_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\\' => out.push_str("%5C"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

fn header_safe(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// A MIME type from the file extension; unknown ones are plain bytes.
pub fn mime_type(file_name: &str) -> &'static str {
    let ext = match file_name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        "txt" | "log" | "text" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "xml" => "application/xml",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "js" | "mjs" => "text/javascript",
        "py" | "rs" | "go" | "ts" | "sh" | "toml" | "ini" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, mime: &str, bytes: &[u8]) -> FilePart {
        FilePart {
            name: name.into(),
            mime_type: mime.into(),
            len: bytes.len() as u64,
            content: Box::new(io::Cursor::new(bytes.to_vec())),
        }
    }

    #[test]
    fn body_has_one_files_part_per_file_and_a_closing_boundary() {
        let (ct, body) = encode_with(
            "XyZ",
            vec![
                part("a.txt", "text/plain", b"hello"),
                part("b.bin", "application/octet-stream", &[0, 255, 13, 10]),
            ],
        )
        .unwrap();
        assert_eq!(ct, "multipart/form-data; boundary=XyZ");
        let mut expected = Vec::new();
        expected.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n",
        );
        expected.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"b.bin\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n",
        );
        expected.extend_from_slice(&[0, 255, 13, 10]);
        expected.extend_from_slice(b"\r\n--XyZ--\r\n");
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&expected)
        );
        assert_eq!(body, expected);
    }

    #[test]
    fn file_names_cannot_break_out_of_the_header() {
        let (_, body) = encode_with(
            "B",
            vec![part("x\"; name=\"evil\r\nX: y\\.txt", "text/plain", b"")],
        )
        .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("filename=\"x%22; name=%22evil%0D%0AX: y%5C.txt\"\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("\r\n").count(), 6, "{text}");
    }

    #[test]
    fn random_boundaries_differ() {
        let (a, _) = encode(Vec::new()).unwrap();
        let (b, _) = encode(Vec::new()).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("multipart/form-data; boundary=molecule-mcp-"));
    }

    #[test]
    fn a_file_that_changed_size_fails_the_body() {
        let mut short = part("a.txt", "text/plain", b"abc");
        short.len = 4;
        assert!(encode_with("B", vec![short]).is_err());
        let mut long = part("a.txt", "text/plain", b"abcde");
        long.len = 4;
        assert!(encode_with("B", vec![long]).is_err());
    }

    #[test]
    fn mime_types_follow_the_extension() {
        assert_eq!(mime_type("report.PDF"), "application/pdf");
        assert_eq!(mime_type("a.b.png"), "image/png");
        assert_eq!(mime_type("notes.md"), "text/markdown");
        assert_eq!(mime_type("Makefile"), "application/octet-stream");
        assert_eq!(mime_type("x.unknownext"), "application/octet-stream");
    }
}
