//! Building `CallToolResult`s, and the one error type tools use internally:
//! a caller mistake (answered as a JSON-RPC error) or a failure the agent
//! should read (answered as an `isError` result).

use serde_json::{json, Value};

use crate::mcp::jsonrpc::RpcError;

pub enum Fault {
    /// Bad arguments: `-32602`.
    Caller(RpcError),
    /// The tool ran but failed: an `isError` result with this text.
    Tool(String),
}

impl From<RpcError> for Fault {
    fn from(e: RpcError) -> Self {
        Fault::Caller(e)
    }
}

pub type Outcome = Result<Value, Fault>;

/// A successful result with one text block.
pub fn text(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

/// A failed result with one text block.
pub fn failure(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

/// A JSON value as text, and as `structuredContent` when it is an object
/// (the only shape MCP allows there).
pub fn json_value(value: Value) -> Value {
    let mut result = text(value.to_string());
    if value.is_object() {
        result["structuredContent"] = value;
    }
    result
}

/// As [`json_value`], marked as a failure.
pub fn json_failure(value: Value) -> Value {
    let mut result = json_value(value);
    result["isError"] = json!(true);
    result
}

/// The answer for an outcome: a result, or the caller's error.
pub fn finish(outcome: Outcome) -> Result<Value, RpcError> {
    match outcome {
        Ok(result) => Ok(result),
        Err(Fault::Caller(e)) => Err(e),
        Err(Fault::Tool(text)) => Ok(failure(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            text("hi"),
            json!({"content": [{"type": "text", "text": "hi"}]})
        );
        assert_eq!(failure("no")["isError"], json!(true));
        let v = json_value(json!({"a": 1}));
        assert_eq!(v["structuredContent"], json!({"a": 1}));
        assert_eq!(v["content"][0]["text"], json!("{\"a\":1}"));
        assert!(json_value(json!([1])).get("structuredContent").is_none());
        assert_eq!(json_failure(json!({"e": 1}))["isError"], json!(true));
    }

    #[test]
    fn finish_maps_faults() {
        assert_eq!(finish(Err(Fault::Tool("x".into()))), Ok(failure("x")));
        let e = RpcError::invalid_params("bad");
        assert_eq!(finish(Err(Fault::Caller(e.clone()))), Err(e));
    }
}
