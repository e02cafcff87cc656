//! Small pieces of HTTP the routes share: answers, query strings, bearer.

use serde_json::{json, Value};

use super::http::{Answer, HttpRequest};

pub fn json_answer(status: u16, body: &Value) -> Answer {
    Answer::Respond {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

pub fn error(status: u16, message: &str) -> Answer {
    json_answer(status, &json!({ "error": message }))
}

/// The bare 404 the tenant edge gives a request without the right `Origin`.
pub fn bare_404() -> Answer {
    Answer::Respond {
        status: 404,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// The request body as JSON, or the 400 a real server would give.
pub fn json_body(req: &HttpRequest) -> Result<Value, Answer> {
    serde_json::from_slice(&req.body).map_err(|_| error(400, "body is not valid JSON"))
}

/// A string field of a JSON object; blank counts as missing.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The first value of a query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}
