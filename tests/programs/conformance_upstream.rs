//! The upstream behind molecule-mcp in `make conformance`: an MCP server on
//! stdin/stdout offering the tools, resources and prompts the official
//! conformance suite's server scenarios ask for, so that the suite, talking
//! to molecule-mcp, exercises the gateway's relaying of each feature.
//!
//! Written from the scenario requirements (names, contents, behaviour), not
//! from any other server. Requests run on their own threads, so a tool that
//! asks the client something (sampling, elicitation, roots) waits for the
//! answer while the reader goes on reading.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A 1x1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
/// A WAV header with no samples.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";
/// How long a question to the client may stay unanswered.
const ASK_TIMEOUT: Duration = Duration::from_secs(60);
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

#[derive(Default)]
struct Peer {
    out: Mutex<()>,
    /// Our requests to the client that wait for an answer, by id.
    asked: Mutex<HashMap<String, Sender<Value>>>,
    next_id: AtomicU64,
    /// The client's capabilities from `initialize`.
    capabilities: Mutex<Value>,
    /// The lowest level sent; `logging/setLevel` moves it.
    min_level: Mutex<usize>,
    subscribed: Mutex<Vec<String>>,
}

impl Peer {
    fn send(&self, message: &Value) {
        let _guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{message}");
        let _ = out.flush();
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn log(&self, level: &str, data: &str) {
        let rank = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
        if rank >= *self.min_level.lock().unwrap_or_else(|e| e.into_inner()) {
            self.notify(
                "notifications/message",
                json!({"level": level, "logger": "conformance", "data": data}),
            );
        }
    }

    fn can(&self, capability: &str) -> bool {
        self.capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(capability)
            .is_some()
    }

    /// Asks the client and waits for its answer: the result, or the error
    /// as text.
    fn ask(&self, method: &str, params: Value) -> Result<Value, String> {
        let id = format!("up-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = channel();
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let answer = rx.recv_timeout(ASK_TIMEOUT);
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        match answer {
            Ok(message) => match message.get("result") {
                Some(result) => Ok(result.clone()),
                None => Err(format!("the client answered {method} with {message}")),
            },
            Err(_) => Err(format!("the client did not answer {method}")),
        }
    }
}

fn main() {
    let peer = Arc::new(Peer::default());
    let mut input = io::stdin().lock();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        let id = message.get("id").cloned();
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(String::from);
        match (id, method) {
            (Some(id), Some(method)) => {
                let peer = peer.clone();
                let params = message.get("params").cloned().unwrap_or(json!({}));
                thread::spawn(move || {
                    let answer = match serve(&peer, &method, &params) {
                        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                        Err((code, text)) => json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": code, "message": text}}),
                    };
                    peer.send(&answer);
                });
            }
            (Some(id), None) => {
                let waiting = peer
                    .asked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id_key(&id));
                if let Some(tx) = waiting {
                    let _ = tx.send(message);
                }
            }
            _ => {}
        }
    }
}

fn id_key(id: &Value) -> String {
    id.as_str().map_or_else(|| id.to_string(), String::from)
}

type Served = Result<Value, (i64, String)>;

fn serve(peer: &Arc<Peer>, method: &str, params: &Value) -> Served {
    match method {
        "initialize" => {
            *peer.capabilities.lock().unwrap_or_else(|e| e.into_inner()) =
                params.get("capabilities").cloned().unwrap_or(json!({}));
            let version = params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("2025-11-25");
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {
                    "tools": {"listChanged": true},
                    "resources": {"subscribe": true, "listChanged": true},
                    "prompts": {"listChanged": true},
                    "logging": {},
                    "completions": {}
                },
                "serverInfo": {"name": "conformance-upstream", "version": "1.0.0"}
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools()})),
        "tools/call" => call(peer, params),
        "resources/list" => Ok(json!({"resources": [
            {"uri": "test://static-text", "name": "static-text",
             "description": "A static text resource", "mimeType": "text/plain"},
            {"uri": "test://static-binary", "name": "static-binary",
             "description": "A static binary resource", "mimeType": "image/png"},
            {"uri": "test://watched-resource", "name": "watched-resource",
             "description": "A resource to subscribe to", "mimeType": "text/plain"}
        ]})),
        "resources/templates/list" => Ok(json!({"resourceTemplates": [
            {"uriTemplate": "test://template/{id}/data", "name": "template",
             "description": "Data for an id", "mimeType": "application/json"}
        ]})),
        "resources/read" => read(params),
        "resources/subscribe" | "resources/unsubscribe" => {
            let uri = text_param(params, "uri")?;
            let mut subscribed = peer.subscribed.lock().unwrap_or_else(|e| e.into_inner());
            subscribed.retain(|u| *u != uri);
            if method == "resources/subscribe" {
                subscribed.push(uri.clone());
                // The resource "changes" once, after the answer.
                let peer = peer.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(50));
                    peer.notify("notifications/resources/updated", json!({"uri": uri}));
                });
            }
            Ok(json!({}))
        }
        "prompts/list" => Ok(json!({"prompts": [
            {"name": "test_simple_prompt", "description": "A prompt without arguments"},
            {"name": "test_prompt_with_arguments", "description": "A prompt with two arguments",
             "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]},
            {"name": "test_prompt_with_embedded_resource", "description": "A prompt embedding a resource",
             "arguments": [{"name": "resourceUri", "description": "The resource to embed", "required": true}]},
            {"name": "test_prompt_with_image", "description": "A prompt with an image"}
        ]})),
        "prompts/get" => prompt(params),
        "completion/complete" => {
            let typed = params
                .pointer("/argument/value")
                .and_then(Value::as_str)
                .unwrap_or("");
            let values: Vec<&str> = ["paris", "park", "party"]
                .into_iter()
                .filter(|v| v.starts_with(typed))
                .collect();
            Ok(json!({"completion": {"values": values, "total": values.len(), "hasMore": false}}))
        }
        "logging/setLevel" => {
            let level = text_param(params, "level")?;
            let rank = LEVELS
                .iter()
                .position(|l| *l == level)
                .ok_or((-32602, format!("unknown level {level}")))?;
            *peer.min_level.lock().unwrap_or_else(|e| e.into_inner()) = rank;
            Ok(json!({}))
        }
        _ => Err((-32601, format!("method not found: {method}"))),
    }
}

fn text_param(params: &Value, key: &str) -> Result<String, (i64, String)> {
    params
        .get(key)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or((-32602, format!("\"{key}\" is missing")))
}

fn no_arguments(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description,
           "inputSchema": {"type": "object", "properties": {}}})
}

fn tools() -> Vec<Value> {
    let one_string = |name: &str, description: &str, argument: &str| {
        json!({"name": name, "description": description, "inputSchema": {
            "type": "object",
            "properties": {argument: {"type": "string"}},
            "required": [argument]}})
    };
    vec![
        no_arguments("test_simple_text", "Returns a text"),
        no_arguments("test_image_content", "Returns an image"),
        no_arguments("test_audio_content", "Returns audio"),
        no_arguments("test_embedded_resource", "Returns an embedded resource"),
        no_arguments(
            "test_multiple_content_types",
            "Returns text, image and resource",
        ),
        no_arguments(
            "test_tool_with_logging",
            "Logs three messages while it runs",
        ),
        no_arguments("test_error_handling", "Always fails"),
        no_arguments("test_tool_with_progress", "Reports progress while it runs"),
        one_string(
            "test_sampling",
            "Asks the client's model to answer a prompt",
            "prompt",
        ),
        one_string("test_elicitation", "Asks the user for input", "message"),
        no_arguments(
            "test_elicitation_sep1034_defaults",
            "Asks the user with a default for each primitive type",
        ),
        no_arguments(
            "test_elicitation_sep1330_enums",
            "Asks the user with every kind of enum",
        ),
        no_arguments("test_reconnection", "Answers after a pause"),
        json!({
            "name": "json_schema_2020_12_tool",
            "description": "Tool with JSON Schema 2020-12 features",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"type": "object", "properties": {
                    "street": {"type": "string"}, "city": {"type": "string"}}}},
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false
            }
        }),
    ]
}

fn text(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

fn call(peer: &Peer, params: &Value) -> Served {
    let name = text_param(params, "name")?;
    let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
    let argument = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let pause = || thread::sleep(Duration::from_millis(50));
    Ok(match name.as_str() {
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => {
            json!({"content": [{"type": "image", "data": PNG, "mimeType": "image/png"}]})
        }
        "test_audio_content" => {
            json!({"content": [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]})
        }
        "test_embedded_resource" => json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}]}),
        "test_multiple_content_types" => json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
             "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}]}),
        "test_tool_with_logging" => {
            peer.log("info", "Tool execution started");
            pause();
            peer.log("info", "Tool processing data");
            pause();
            peer.log("info", "Tool execution completed");
            text("Logging completed")
        }
        "test_error_handling" => json!({"isError": true, "content": [{"type": "text",
            "text": "This tool intentionally returns an error for testing"}]}),
        "test_tool_with_progress" => {
            let token = params.pointer("/_meta/progressToken").cloned();
            for (step, progress) in [0, 50, 100].into_iter().enumerate() {
                if step > 0 {
                    pause();
                }
                if let Some(token) = &token {
                    peer.notify(
                        "notifications/progress",
                        json!({"progressToken": token, "progress": progress, "total": 100}),
                    );
                }
            }
            text("Progress completed")
        }
        "test_sampling" => {
            // `askAnyway` tests the gateway's own refusal.
            let anyway = arguments.get("askAnyway") == Some(&json!(true));
            if !anyway && !peer.can("sampling") {
                return Ok(failed("the client does not offer sampling"));
            }
            let asked = peer.ask(
                "sampling/createMessage",
                json!({"messages": [{"role": "user", "content": {"type": "text",
                    "text": argument("prompt")}}], "maxTokens": 100}),
            );
            match asked {
                Ok(answer) => {
                    let said = answer
                        .pointer("/content/text")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    text(&format!("LLM response: {said}"))
                }
                Err(e) => failed(&e),
            }
        }
        "test_elicitation" => elicit(
            peer,
            json!({"message": argument("message"), "requestedSchema": {
                "type": "object",
                "properties": {
                    "username": {"type": "string", "description": "User's response"},
                    "email": {"type": "string", "description": "User's email address"}},
                "required": ["username", "email"]}}),
            "User response",
        ),
        "test_elicitation_sep1034_defaults" => elicit(
            peer,
            json!({"message": "Please review the defaults", "requestedSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "default": "John Doe"},
                    "age": {"type": "integer", "default": 30},
                    "score": {"type": "number", "default": 95.5},
                    "status": {"type": "string", "enum": ["active", "inactive", "pending"],
                               "default": "active"},
                    "verified": {"type": "boolean", "default": true}}}}),
            "Elicitation completed",
        ),
        "test_elicitation_sep1330_enums" => elicit(
            peer,
            json!({"message": "Please choose", "requestedSchema": {
                "type": "object",
                "properties": {
                    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {"type": "string", "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"}]},
                    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"]},
                    "untitledMulti": {"type": "array", "items": {"type": "string",
                        "enum": ["option1", "option2", "option3"]}},
                    "titledMulti": {"type": "array", "items": {"anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"}]}}}}}),
            "Elicitation completed",
        ),
        "test_reconnection" => {
            thread::sleep(Duration::from_millis(200));
            text("Reconnection test completed successfully")
        }
        "json_schema_2020_12_tool" => text(&format!("Received {arguments}")),
        other => return Err((-32602, format!("unknown tool: {other}"))),
    })
}

fn failed(why: &str) -> Value {
    json!({"isError": true, "content": [{"type": "text", "text": why}]})
}

fn elicit(peer: &Peer, params: Value, label: &str) -> Value {
    if !peer.can("elicitation") {
        return failed("the client does not offer elicitation");
    }
    match peer.ask("elicitation/create", params) {
        Ok(answer) => {
            let action = answer.get("action").and_then(Value::as_str).unwrap_or("");
            let content = answer.get("content").cloned().unwrap_or(json!({}));
            text(&format!("{label}: action={action}, content={content}"))
        }
        Err(e) => failed(&e),
    }
}

fn read(params: &Value) -> Served {
    let uri = text_param(params, "uri")?;
    let content = match uri.as_str() {
        "test://static-text" => json!({"uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."}),
        "test://static-binary" => json!({"uri": uri, "mimeType": "image/png", "blob": PNG}),
        "test://watched-resource" => {
            json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content."})
        }
        _ => {
            let id = uri
                .strip_prefix("test://template/")
                .and_then(|rest| rest.strip_suffix("/data"))
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .ok_or((-32002, format!("resource not found: {uri}")))?;
            let data =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            json!({"uri": uri, "mimeType": "application/json", "text": data.to_string()})
        }
    };
    Ok(json!({"contents": [content]}))
}

fn prompt(params: &Value) -> Served {
    let name = text_param(params, "name")?;
    let argument = |key: &str| {
        params
            .pointer(&format!("/arguments/{key}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    let messages = match name.as_str() {
        "test_simple_prompt" => vec![user(
            json!({"type": "text", "text": "This is a simple prompt for testing."}),
        )],
        "test_prompt_with_arguments" => vec![user(json!({"type": "text", "text": format!(
            "Prompt with arguments: arg1='{}', arg2='{}'", argument("arg1"), argument("arg2"))}))],
        "test_prompt_with_embedded_resource" => vec![
            user(
                json!({"type": "resource", "resource": {"uri": argument("resourceUri"),
                "mimeType": "text/plain", "text": "Embedded resource content for testing."}}),
            ),
            user(json!({"type": "text", "text": "Please process the embedded resource above."})),
        ],
        "test_prompt_with_image" => vec![
            user(json!({"type": "image", "data": PNG, "mimeType": "image/png"})),
            user(json!({"type": "text", "text": "Please analyze the image above."})),
        ],
        other => return Err((-32602, format!("unknown prompt: {other}"))),
    };
    Ok(json!({"messages": messages}))
}
