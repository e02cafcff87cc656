//! Enough of `multipart/form-data` (RFC 7578) to check what a client uploads:
//! field names, file names, content types and exact bytes.

pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// The parts of a body, or `None` when it is not well-formed.
pub fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let opening = format!("--{boundary}").into_bytes();
    let between = format!("\r\n--{boundary}").into_bytes();
    let mut at = find(body, &opening, 0)? + opening.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        at = skip_crlf(body, at)?;
        let end = find(body, &between, at)?;
        parts.push(part(&body[at..end])?);
        at = end + between.len();
    }
}

fn part(raw: &[u8]) -> Option<Part> {
    let split = find(raw, b"\r\n\r\n", 0);
    let (head, data) = match split {
        Some(i) => (&raw[..i], raw[i + 4..].to_vec()),
        // A part with no headers at all starts with the blank line.
        None if raw.starts_with(b"\r\n") => (&raw[..0], raw[2..].to_vec()),
        None => return None,
    };
    let head = String::from_utf8_lossy(head);
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if field.trim().eq_ignore_ascii_case("content-disposition") {
            name = disposition_param(value, "name");
            filename = disposition_param(value, "filename");
        } else if field.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    Some(Part {
        name: name?,
        filename,
        content_type,
        data,
    })
}

/// `name="x"` or `name=x` inside a Content-Disposition value. Quoted values
/// may contain `;` and backslash escapes.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    let mut rest = value;
    while let Some(eq) = rest.find('=') {
        let k = rest[..eq].rsplit([';', ' ']).next().unwrap_or_default();
        let after = &rest[eq + 1..];
        let (v, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        if k.trim().eq_ignore_ascii_case(key) {
            return Some(v);
        }
        rest = tail;
    }
    None
}

fn skip_crlf(body: &[u8], at: usize) -> Option<usize> {
    (body.get(at..at + 2)? == b"\r\n").then_some(at + 2)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}
