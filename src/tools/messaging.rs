//! `broadcast_message` and `send_message_to_user`.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::args::Args;
use super::attachments;
use super::errors::{explain, About, Failure};
use super::multipart;
use super::peer_text::display;
use super::result::{text, Fault, Outcome};
use super::route::{success, success_json, Acting};
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::platform::http::{snippet, Body, Response};
use crate::sync::lock;

/// Uploads carry up to 50 MiB: more time than an ordinary call.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The `hint` of an error body, as safe display text.
fn hint(response: &Response) -> Option<String> {
    let body = response.json().ok()?;
    let hint = body.get("hint").and_then(Value::as_str)?;
    Some(display(hint, 300)).filter(|h| !h.is_empty())
}

fn error_code(response: &Response) -> Option<String> {
    let body = response.json().ok()?;
    body.get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub fn broadcast_message(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let message = args.required_str("message")?;
    let explicit = args.optional_str("workspace_id")?;
    let acting = tools.acting("workspace_id", explicit, None)?;
    let ws = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("broadcast_message", About::Own(ws), &f));
    let response = acting
        .post(
            acting.url(&["workspaces", ws, "broadcast"]),
            json!({"message": message}),
        )
        .map_err(fail)?;
    if response.status == 403 {
        let said = match hint(&response) {
            Some(hint) => format!(" The platform says: {hint}"),
            None => String::new(),
        };
        return Err(Fault::Tool(format!(
            "broadcast_message failed: broadcast is not enabled for workspace {ws} (HTTP 403).{said} \
             Send to peers one at a time with delegate_task instead."
        )));
    }
    let answer = success_json(response).map_err(fail)?;
    Ok(text(
        match answer.get("delivered").and_then(Value::as_u64) {
            Some(1) => "Broadcast delivered to 1 peer.".to_string(),
            Some(n) => format!("Broadcast delivered to {n} peers."),
            None => "Broadcast sent.".to_string(),
        },
    ))
}

pub fn send_message_to_user(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let message = args.required_str("message")?;
    let paths = args.string_list("attachments")?;
    let explicit = args.optional_str("workspace_id")?;
    let acting = tools.acting("workspace_id", explicit, None)?;
    let ws = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("send_message_to_user", About::Own(ws), &f));
    let files = attachments::open_all(&tools.attachments, &paths)
        .map_err(|why| Fault::Tool(format!("send_message_to_user failed: {why}")))?;
    let uploaded = if files.is_empty() {
        Vec::new()
    } else {
        upload(&acting, files)?
    };
    let mut body = json!({"message": message});
    if !uploaded.is_empty() {
        body["attachments"] = Value::Array(uploaded.clone());
    }
    let response = acting
        .post(acting.url(&["workspaces", ws, "notify"]), body)
        .map_err(fail)?;
    if response.status == 403 && error_code(&response).as_deref() == Some("talk_to_user_disabled") {
        let said = match hint(&response) {
            Some(hint) => format!(" The platform says: {hint}"),
            None => String::new(),
        };
        return Err(Fault::Tool(format!(
            "send_message_to_user failed: workspace {ws} may not message the user directly \
             (talk_to_user_disabled).{said} Reply to the peer that asked you, with \
             delegate_task (workspace_id = its peer_id), instead."
        )));
    }
    success(response).map_err(fail)?;
    Ok(text(match uploaded.len() {
        0 => "Message sent to the user.".to_string(),
        1 => "Message sent to the user with 1 attachment.".to_string(),
        n => format!("Message sent to the user with {n} attachments."),
    }))
}

/// `POST /workspaces/{ws}/chat/uploads`: the platform's descriptions of the
/// stored files, `{uri, name, mimeType, size}` each.
fn upload(acting: &Acting<'_>, files: Vec<multipart::FilePart>) -> Result<Vec<Value>, Fault> {
    let count = files.len();
    // One upload body in memory at a time: 16 concurrent 50 MiB sends must
    // not hold 16 bodies (a queued one waits for the one being sent).
    let _one_at_a_time = lock(&UPLOADS);
    let (content_type, bytes) = multipart::encode(files).map_err(|e| {
        Fault::Tool(format!(
            "send_message_to_user failed: an attachment could not be read ({e}); nothing was sent."
        ))
    })?;
    send_upload(acting, count, content_type, bytes)
        .map_err(|f| Fault::Tool(explain("send_message_to_user", About::Own(acting.id()), &f)))
}

static UPLOADS: Mutex<()> = Mutex::new(());

fn send_upload(
    acting: &Acting<'_>,
    count: usize,
    content_type: String,
    bytes: Vec<u8>,
) -> Result<Vec<Value>, Failure> {
    let url = acting.url(&["workspaces", acting.id(), "chat", "uploads"]);
    let response = acting.send(
        "POST",
        url,
        Some(Body::Raw {
            content_type,
            bytes,
        }),
        UPLOAD_TIMEOUT,
    )?;
    let status = response.status;
    let answer = success_json(response)?;
    let stored = answer.get("files").and_then(Value::as_array);
    let described: Option<Vec<Value>> = stored.map(|list| {
        list.iter()
            .filter(|f| f.get("uri").and_then(Value::as_str).is_some())
            .map(|f| {
                json!({
                    "uri": f["uri"],
                    "name": f.get("name").cloned().unwrap_or(Value::Null),
                    "mimeType": f.get("mimeType").cloned().unwrap_or(Value::Null),
                    "size": f.get("size").cloned().unwrap_or(Value::Null),
                })
            })
            .collect()
    });
    match described {
        Some(list) if list.len() == count => Ok(list),
        _ => Err(Failure::Unexpected {
            status,
            snippet: snippet(answer.to_string().as_bytes()),
        }),
    }
}
