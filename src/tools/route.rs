//! One workspace acting on the platform: its URL and its token (re-read for
//! every call), and the two ways to send — plain, and abandonable on
//! cancellation for the long waits of `delegate_task`.

use std::time::Duration;

use crossbeam_channel::Receiver;
use serde_json::Value;

use super::errors::Failure;
use crate::config::{Secret, Workspace};
use crate::platform::http::{
    self, Body, Call, Client, HttpError, Response, TransportKind, DEFAULT_TIMEOUT,
};
use crate::redact;
use crate::threads::{self, Pending, Refused, Waited};

pub struct Acting<'a> {
    pub ws: &'a Workspace,
    client: &'a Client,
}

impl<'a> Acting<'a> {
    pub fn new(ws: &'a Workspace, client: &'a Client) -> Self {
        Acting { ws, client }
    }

    pub fn id(&self) -> &'a str {
        &self.ws.id
    }

    /// A platform URL of this workspace's tenant.
    pub fn url(&self, segments: &[&str]) -> String {
        http::url(&self.ws.platform_url, segments)
    }

    fn token(&self) -> Result<Secret, Failure> {
        let token = self.ws.token.current().map_err(Failure::Token)?;
        redact::register_secret(token.expose());
        Ok(token)
    }

    /// Sends one call as this workspace; an answer of any status is `Ok`.
    pub fn send(
        &self,
        method: &str,
        url: String,
        body: Option<Body>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let token = self.token()?;
        let mut call = Call::new(method, url, &self.ws.platform_url)
            .token(&token)
            .as_workspace(&self.ws.id)
            .timeout(timeout);
        call.body = body;
        self.client.send(call).map_err(Failure::from)
    }

    pub fn get(&self, url: String) -> Result<Response, Failure> {
        self.send("GET", url, None, DEFAULT_TIMEOUT)
    }

    pub fn post(&self, url: String, body: Value) -> Result<Response, Failure> {
        self.send("POST", url, Some(Body::Json(body)), DEFAULT_TIMEOUT)
    }

    /// As [`Acting::send`], but gives up at once when `cancel` becomes
    /// ready. The request runs on its own thread, which finishes (within
    /// `timeout`) on its own after we stopped waiting for it.
    pub fn send_cancellable(
        &self,
        method: &'static str,
        url: String,
        body: Option<Body>,
        timeout: Duration,
        cancel: &Receiver<()>,
    ) -> Result<Response, Failure> {
        let token = self.token()?;
        let client = self.client.clone();
        let origin = self.ws.platform_url.clone();
        let ws = self.ws.id.clone();
        let work = move || {
            let mut call = Call::new(method, url, &origin)
                .token(&token)
                .as_workspace(&ws)
                .timeout(timeout);
            call.body = body;
            client.send(call)
        };
        // Each cancelled request leaves its thread running until its own
        // timeout: the platform's calls have a group of places of their own.
        let pending = Pending::start("platform-call".into(), threads::platform(), work).map_err(
            |refused| {
                let detail = match refused {
                    Refused::NoThread(e) => format!("could not start the request: {e}"),
                    full => format!(
                        "{full} (cancelled ones finish within their timeout); retry in a minute"
                    ),
                };
                Failure::Http(HttpError::transport(TransportKind::Local, detail))
            },
        )?;
        match pending.wait(None, cancel) {
            Waited::Done(result) => result.map_err(Failure::from),
            Waited::Cancelled => Err(Failure::Cancelled),
            Waited::TimedOut | Waited::Lost => Err(Failure::Http(HttpError::transport(
                TransportKind::Local,
                "the request ended without an answer",
            ))),
        }
    }
}

/// The answer when its status is 2xx, else the failure.
pub fn success(response: Response) -> Result<Response, Failure> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(Failure::Status(response))
    }
}

/// The JSON body of a 2xx answer.
pub fn success_json(response: Response) -> Result<Value, Failure> {
    success(response)?.json().map_err(Failure::from)
}
