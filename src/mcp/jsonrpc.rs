//! JSON-RPC 2.0 framing: what one incoming line is, and the lines we answer with.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::fmt;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The implementation-defined range's first code: the server cannot take the
/// request now (too many in flight), though the request itself is fine.
pub const SERVER_BUSY: i64 = -32000;
/// An upstream's answer could not be carried to the client (too large or
/// too deep); the class the breaker gives it counts nothing against the
/// server.
pub const UNCARRIABLE: i64 = -32001;

/// A JSON-RPC error object. Its message goes to the client, so it never
/// carries secrets or the content of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn parse_error(detail: impl fmt::Display) -> Self {
        Self::new(PARSE_ERROR, format!("Parse error: {detail}"))
    }

    pub fn invalid_request(detail: impl fmt::Display) -> Self {
        Self::new(INVALID_REQUEST, format!("Invalid request: {detail}"))
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }

    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        Self::new(INVALID_PARAMS, format!("Invalid params: {detail}"))
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(INTERNAL_ERROR, format!("Internal error: {detail}"))
    }

    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(data), Some(object)) = (&self.data, error.as_object_mut()) {
            object.insert("data".into(), data.clone());
        }
        error
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `params` is an object, an array, or `Null` when absent.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// The client answering a request of ours (relayed for an upstream):
    /// the whole message.
    Response(Value),
    /// Answer with this error under this id (`Null` when the id was unusable).
    Invalid {
        id: Value,
        error: RpcError,
    },
    /// An empty line: nothing to answer.
    Blank,
}

/// Classifies one line (without its newline).
pub fn parse_line(line: &[u8]) -> Incoming {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Incoming::Blank;
    }
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            return invalid(
                Value::Null,
                RpcError::parse_error(format!("the line is not valid UTF-8 ({e})")),
            )
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value) => classify(value),
        Err(e) => invalid(
            Value::Null,
            RpcError::parse_error(format!("the line is not JSON ({e})")),
        ),
    }
}

/// Classifies one parsed message.
pub fn classify(message: Value) -> Incoming {
    let mut object = match message {
        Value::Object(object) => object,
        Value::Array(_) => {
            return invalid(
                Value::Null,
                RpcError::invalid_request("batches are not supported; send one message per line"),
            )
        }
        _ => {
            return invalid(
                Value::Null,
                RpcError::invalid_request("a message must be a JSON object"),
            )
        }
    };
    let id = object.remove("id");
    let usable_id = match &id {
        Some(id) if is_valid_id(id) => id.clone(),
        _ => Value::Null,
    };
    if !object.contains_key("method")
        && (object.contains_key("result") || object.contains_key("error"))
    {
        if let Some(id) = id {
            object.insert("id".into(), id);
        }
        return Incoming::Response(Value::Object(object));
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(
            usable_id,
            RpcError::invalid_request("\"jsonrpc\" must be \"2.0\""),
        );
    }
    if let Some(Value::String(long)) = &id {
        if long.len() > MAX_ID_BYTES {
            return invalid(
                Value::Null,
                RpcError::invalid_request(format!(
                    "the id is {} bytes long; ids may be at most {MAX_ID_BYTES} bytes",
                    long.len()
                )),
            );
        }
    }
    if id.is_some() && usable_id.is_null() {
        return invalid(
            Value::Null,
            RpcError::invalid_request("\"id\" must be a string or an integer"),
        );
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => {
            return invalid(
                usable_id,
                RpcError::invalid_request("\"method\" must be a string"),
            )
        }
        None => {
            return invalid(
                usable_id,
                RpcError::invalid_request("\"method\" is missing"),
            )
        }
    };
    // A null `params` is read as absent: some clients send it, and it says nothing.
    let params = match object.remove("params") {
        None | Some(Value::Null) => Value::Null,
        Some(params @ (Value::Object(_) | Value::Array(_))) => params,
        Some(_) => {
            return invalid(
                usable_id,
                RpcError::invalid_request("\"params\" must be an object or an array"),
            )
        }
    };
    match id {
        Some(_) => Incoming::Request {
            id: usable_id,
            method,
            params,
        },
        None => Incoming::Notification { method, params },
    }
}

/// The longest string id (or progress token) accepted: an id stays in
/// memory, in a few copies, until its request is answered.
pub const MAX_ID_BYTES: usize = 1024;

/// JSON-RPC ids we accept: strings of at most `MAX_ID_BYTES` and integers
/// (never null, fractions, or structures).
pub fn is_valid_id(id: &Value) -> bool {
    match id {
        Value::String(id) => id.len() <= MAX_ID_BYTES,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// The params of an MCP method as an object; absent means empty.
pub fn params_object(params: Value) -> Result<Map<String, Value>, RpcError> {
    match params {
        Value::Null => Ok(Map::new()),
        Value::Object(object) => Ok(object),
        _ => Err(RpcError::invalid_params("params must be an object")),
    }
}

/// An answer line; `result` is written as it is, parsed or not.
pub fn result_line(id: &Value, result: &(impl Serialize + ?Sized)) -> String {
    #[derive(Serialize)]
    struct Answer<'a, T: ?Sized> {
        jsonrpc: &'static str,
        id: &'a Value,
        result: &'a T,
    }
    let answer = Answer {
        jsonrpc: "2.0",
        id,
        result,
    };
    // Only a map with keys that are not strings fails to serialize, and
    // JSON values have none.
    serde_json::to_string(&answer)
        .unwrap_or_else(|_| error_line(id, &RpcError::internal("the answer could not be written")))
}

pub fn error_line(id: &Value, error: &RpcError) -> String {
    envelope([("id", id.clone()), ("error", error.to_json())])
}

/// A notification line; `Null` params are left out.
pub fn notification_line(method: &str, params: Value) -> String {
    if params.is_null() {
        envelope([("method", Value::from(method))])
    } else {
        envelope([("method", Value::from(method)), ("params", params)])
    }
}

/// The `tools/list` result: the definitions are spliced in as the text they
/// are kept as, never parsed (parsed, the catalog takes ten times the
/// memory while the answer is written).
#[derive(Serialize)]
pub struct ToolList {
    pub tools: Vec<Box<RawValue>>,
}

/// A JSON-RPC message around `fields`, moved in as they are: `json!` would
/// first copy each value (a `tools/list` result is the whole catalog, so
/// the copy was most of the peak memory of answering it).
fn envelope<const N: usize>(fields: [(&str, Value); N]) -> String {
    let mut message = Map::new();
    message.insert("jsonrpc".into(), Value::from("2.0"));
    for (key, value) in fields {
        message.insert(key.into(), value);
    }
    Value::Object(message).to_string()
}

fn invalid(id: Value, error: RpcError) -> Incoming {
    Incoming::Invalid { id, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_id(line: &[u8]) -> (i64, Value) {
        match parse_line(line) {
            Incoming::Invalid { id, error } => (error.code, id),
            other => panic!(
                "{} was accepted as {other:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }

    #[test]
    fn rejects_malformed_lines_with_the_right_code_and_id() {
        let cases: &[(&[u8], i64, Value)] = &[
            (b"not json", PARSE_ERROR, Value::Null),
            (b"{\"jsonrpc\":\"2.0\",", PARSE_ERROR, Value::Null),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
                PARSE_ERROR,
                Value::Null,
            ),
            (b"[]", INVALID_REQUEST, Value::Null),
            (
                b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                INVALID_REQUEST,
                Value::Null,
            ),
            (b"42", INVALID_REQUEST, Value::Null),
            (b"\"ping\"", INVALID_REQUEST, Value::Null),
            (b"null", INVALID_REQUEST, Value::Null),
            (b"{}", INVALID_REQUEST, Value::Null),
            (b"{\"id\":1,\"method\":\"ping\"}", INVALID_REQUEST, json!(1)),
            (
                b"{\"jsonrpc\":2.0,\"id\":\"a\",\"method\":\"ping\"}",
                INVALID_REQUEST,
                json!("a"),
            ),
            (
                b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
                INVALID_REQUEST,
                json!(1),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}",
                INVALID_REQUEST,
                json!(3),
            ),
            (b"{\"jsonrpc\":\"2.0\",\"id\":3}", INVALID_REQUEST, json!(3)),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":\"x\"}",
                INVALID_REQUEST,
                json!(4),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":7}",
                INVALID_REQUEST,
                json!(4),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"method\":7}",
                INVALID_REQUEST,
                Value::Null,
            ),
        ];
        for (line, code, id) in cases {
            assert_eq!(
                code_and_id(line),
                (*code, id.clone()),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn string_ids_are_bounded_at_1_kib() {
        let line =
            |id: &str| format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"ping"}}"#).into_bytes();
        let longest = "a".repeat(MAX_ID_BYTES);
        assert!(matches!(
            parse_line(&line(&longest)),
            Incoming::Request { .. }
        ));
        let (code, id) = code_and_id(&line(&format!("{longest}a")));
        assert_eq!((code, id), (INVALID_REQUEST, Value::Null));
        assert!(!is_valid_id(&json!(format!("{longest}a"))));
    }

    #[test]
    fn accepts_requests_notifications_and_responses() {
        assert_eq!(
            parse_line(
                br#"{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":{"name":"a"}}"#
            ),
            Incoming::Request {
                id: json!("x-1"),
                method: "tools/call".into(),
                params: json!({"name": "a"})
            }
        );
        assert_eq!(
            parse_line(br#"{"jsonrpc":"2.0","id":-7,"method":"ping","params":null}"#),
            Incoming::Request {
                id: json!(-7),
                method: "ping".into(),
                params: Value::Null
            }
        );
        assert_eq!(
            parse_line(
                br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping","params":[1]}"#
            ),
            Incoming::Request {
                id: json!(u64::MAX),
                method: "ping".into(),
                params: json!([1])
            }
        );
        assert_eq!(
            parse_line(br#" {"jsonrpc":"2.0","method":"notifications/initialized"} "#),
            Incoming::Notification {
                method: "notifications/initialized".into(),
                params: Value::Null
            }
        );
        assert_eq!(
            parse_line(br#"{"jsonrpc":"2.0","id":9,"result":{}}"#),
            Incoming::Response(json!({"jsonrpc": "2.0", "id": 9, "result": {}}))
        );
        assert_eq!(
            parse_line(br#"{"jsonrpc":"2.0","id":9,"error":{"code":1}}"#),
            Incoming::Response(json!({"jsonrpc": "2.0", "id": 9, "error": {"code": 1}}))
        );
        assert_eq!(parse_line(b""), Incoming::Blank);
        assert_eq!(parse_line(b" \t\r"), Incoming::Blank);
    }

    #[test]
    fn params_object_reads_absent_as_empty_and_refuses_arrays() {
        assert_eq!(params_object(Value::Null), Ok(Map::new()));
        assert_eq!(params_object(json!({"a": 1})).map(|m| m.len()), Ok(1));
        assert_eq!(
            params_object(json!([1])).map_err(|e| e.code),
            Err(INVALID_PARAMS)
        );
    }

    #[test]
    fn answer_lines_are_single_line_json() {
        let error = RpcError::invalid_params("bad\nthing").with_data(json!({"k": "v"}));
        let line = error_line(&json!(1), &error);
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["error"]["code"], json!(INVALID_PARAMS));
        assert_eq!(parsed["error"]["data"], json!({"k": "v"}));
        assert_eq!(
            serde_json::from_str::<Value>(&result_line(&json!("a"), &json!({}))).unwrap(),
            json!({"jsonrpc": "2.0", "id": "a", "result": {}})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&notification_line("n", Value::Null)).unwrap(),
            json!({"jsonrpc": "2.0", "method": "n"})
        );
    }
}
