//! What a tool call can see of the request it serves.

use super::cancel::CancelToken;
use super::outbox::Outbox;
use crossbeam_channel::Receiver;
use serde_json::{Map, Value};

/// Handed to every handler call that runs on a worker.
pub struct CallContext {
    request_id: Value,
    progress_token: Option<Value>,
    cancel: CancelToken,
    outbox: Outbox,
}

impl CallContext {
    pub fn new(
        request_id: Value,
        progress_token: Option<Value>,
        cancel: CancelToken,
        outbox: Outbox,
    ) -> Self {
        CallContext {
            request_id,
            progress_token,
            cancel,
            outbox,
        }
    }

    pub fn request_id(&self) -> &Value {
        &self.request_id
    }

    /// The client's `_meta.progressToken`, when it asked for progress.
    pub fn progress_token(&self) -> Option<&Value> {
        self.progress_token.as_ref()
    }

    /// True once the client cancelled the request or the server is shutting down.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Becomes ready (disconnected) when the request is cancelled, so a
    /// blocking call can `select!` on it next to whatever it waits for.
    pub fn cancelled(&self) -> &Receiver<()> {
        self.cancel.signal()
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Sends `notifications/progress` under the client's token; false when
    /// the client asked for no progress or the notification was dropped.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        let Some(token) = &self.progress_token else {
            return false;
        };
        let mut params = Map::new();
        params.insert("progressToken".into(), token.clone());
        params.insert("progress".into(), progress.into());
        if let Some(total) = total {
            params.insert("total".into(), total.into());
        }
        if let Some(message) = message {
            params.insert("message".into(), message.into());
        }
        self.outbox
            .notify("notifications/progress", Value::Object(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::cancel::CancelReason;
    use serde_json::json;

    #[test]
    fn progress_goes_out_only_under_the_clients_token() {
        let (outbox, rx) = Outbox::channel();
        let silent = CallContext::new(json!(1), None, CancelToken::new(), outbox.clone());
        assert!(!silent.progress(1.0, None, None));
        assert!(rx.try_recv().is_err());

        let ctx = CallContext::new(json!(2), Some(json!("tok")), CancelToken::new(), outbox);
        assert!(ctx.progress(1.0, Some(4.0), Some("one of four")));
        let sent: Value = serde_json::from_str(rx.try_recv().unwrap().line()).unwrap();
        assert_eq!(
            sent,
            json!({"jsonrpc": "2.0", "method": "notifications/progress",
                   "params": {"progressToken": "tok", "progress": 1.0, "total": 4.0, "message": "one of four"}})
        );
    }

    #[test]
    fn sees_cancellation_through_its_token() {
        let (outbox, _rx) = Outbox::channel();
        let token = CancelToken::new();
        let ctx = CallContext::new(json!(1), None, token.clone(), outbox);
        assert!(!ctx.is_cancelled());
        token.cancel(CancelReason::Client);
        assert!(ctx.is_cancelled());
        assert_eq!(
            ctx.cancelled().try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        );
        assert_eq!(ctx.request_id(), &json!(1));
    }
}
