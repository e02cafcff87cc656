//! The thread that keeps one workspace linked to the platform: the shell
//! around `machine::heartbeat`. It waits for the machine's next deadline or
//! shutdown, feeds it what happened, and carries out the effects.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, Receiver, Sender, TryRecvError};
use log::{info, log, warn};

use super::http::Client;
use super::registry::{self, Answer, Diagnosis};
use crate::config::{Secret, Workspace, AUTH_TOKEN_FILE};
use crate::machine::auth;
use crate::machine::heartbeat::{self as hb, Effect, Event, Failure, Heartbeat, Outcome, State};
use crate::redact;
use crate::statefile;

/// Where the inbound secret lives (platform.md §6).
pub const SECRET_FILE: &str = ".platform_inbound_secret";

/// What every link shares.
#[derive(Clone)]
pub struct Settings {
    pub interval: Duration,
    pub configs_dir: PathBuf,
    /// Several workspaces share one `CONFIGS_DIR`: their files get a suffix.
    pub multi: bool,
    /// Every configured workspace id, so files of ids that share their first
    /// 8 characters get distinct names.
    pub workspace_ids: Vec<String>,
    /// Process start, for `uptime_seconds`.
    pub started: Instant,
}

/// What a link tells the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkReport {
    /// The first register was refused: the process must exit 3.
    RegisterRefused {
        workspace: String,
        status: u16,
        snippet: String,
    },
    /// The first register attempt has an answer (or failed to get one), and
    /// a refusal was reported: a process told to stop may exit now without
    /// hiding an exit 3.
    FirstRegisterDone { workspace: String },
}

/// Where the first register stands: the spec's order is register, then
/// serve, so it goes out (and its refusal is reported) even when stdin
/// ended at once.
#[derive(PartialEq, Eq)]
enum First {
    Pending,
    Answered,
    Reported,
}

/// The state file for `name` of this workspace: `name` in single mode,
/// `name_<first 8 of id>` when several workspaces share the directory (the
/// full id when another workspace shares those 8 characters).
pub fn state_file(settings: &Settings, name: &str, workspace_id: &str) -> PathBuf {
    let ids: Vec<&str> = settings.workspace_ids.iter().map(String::as_str).collect();
    statefile::of_workspace(
        &settings.configs_dir,
        name,
        workspace_id,
        settings.multi,
        &ids,
    )
}

pub fn spawn(
    ws: Workspace,
    settings: Settings,
    client: Client,
    shutdown: Receiver<()>,
    reports: Sender<LinkReport>,
) -> std::io::Result<JoinHandle<()>> {
    let name = format!("link-{}", ws.id.chars().take(8).collect::<String>());
    std::thread::Builder::new().name(name).spawn(move || {
        Link {
            ws,
            settings,
            client,
            reports,
            last_snippet: String::new(),
            escalation: None,
            generation: None,
        }
        .run(&shutdown)
    })
}

struct Link {
    ws: Workspace,
    settings: Settings,
    client: Client,
    reports: Sender<LinkReport>,
    /// The body snippet of the last failed answer, for the warning.
    last_snippet: String,
    /// The first escalation waits for the diagnosis that follows it, so the
    /// operator gets one error line that says everything.
    escalation: Option<auth::Effect>,
    /// The latest generation the platform sent; echoed in each heartbeat.
    generation: Option<i64>,
}

impl Link {
    fn run(mut self, shutdown: &Receiver<()>) {
        let config = hb::Config {
            interval: self.settings.interval,
            ..hb::Config::default()
        };
        let mut machine = Heartbeat::new(
            self.ws.id.clone(),
            config,
            // Many agents started together spread their beats.
            crate::seed::jitter(self.ws.id.as_bytes()),
        );
        let mut pending: VecDeque<Effect> = machine.handle(Event::Start, Instant::now()).into();
        let mut first = First::Pending;
        loop {
            while let Some(effect) = pending.pop_front() {
                let is_first = first == First::Pending && matches!(effect, Effect::SendRegister);
                let is_request = matches!(
                    effect,
                    Effect::SendRegister | Effect::SendBeat | Effect::Diagnose
                );
                if is_request && first == First::Answered {
                    self.report_first_register(&mut first);
                }
                // A request may have blocked for seconds: never start another
                // one once shutdown began.
                if is_request
                    && !is_first
                    && matches!(shutdown.try_recv(), Err(TryRecvError::Disconnected))
                {
                    machine.handle(Event::Shutdown, Instant::now());
                    return;
                }
                if let Some(event) = self.carry_out(effect) {
                    pending.extend(machine.handle(event, Instant::now()));
                }
                if is_first {
                    first = First::Answered;
                }
            }
            if first == First::Answered {
                self.report_first_register(&mut first);
            }
            if let Some(e) = self.escalation.take() {
                log!(e.level, "{}", auth::message(&e));
            }
            if machine.state() == State::Stopped {
                return;
            }
            let timer = match machine.next_deadline() {
                Some(at) => after(at.saturating_duration_since(Instant::now())),
                None => never(),
            };
            select! {
                recv(shutdown) -> _ => {
                    machine.handle(Event::Shutdown, Instant::now());
                    return;
                }
                recv(timer) -> _ => pending.extend(machine.handle(Event::Tick, Instant::now())),
            }
        }
    }

    fn report_first_register(&self, first: &mut First) {
        *first = First::Reported;
        let _ = self.reports.send(LinkReport::FirstRegisterDone {
            workspace: self.ws.id.clone(),
        });
    }

    /// Carries out one effect; returns the event its result makes, if any.
    fn carry_out(&mut self, effect: Effect) -> Option<Event> {
        let id = &self.ws.id;
        match effect {
            Effect::SendRegister => {
                let outcome = match self.token() {
                    Some(token) => self.outcome(registry::register(&self.client, &self.ws, &token)),
                    None => Outcome::Transport,
                };
                Some(Event::RegisterDone(outcome))
            }
            Effect::SendBeat => {
                let outcome = match self.token() {
                    Some(token) => {
                        let uptime = self.settings.started.elapsed();
                        let answer = registry::heartbeat(
                            &self.client,
                            &self.ws,
                            &token,
                            uptime,
                            self.generation,
                        );
                        self.outcome(answer)
                    }
                    None => Outcome::Transport,
                };
                Some(Event::BeatDone(outcome))
            }
            Effect::Registered => {
                info!("workspace {id}: registered with {}", self.ws.platform_url);
                None
            }
            Effect::PersistToken(token) => {
                self.persist_token(&token);
                None
            }
            Effect::PersistSecret(secret) => {
                redact::register_secret(&secret);
                let path = state_file(&self.settings, SECRET_FILE, id);
                match statefile::write_atomic(&path, secret.as_bytes()) {
                    Ok(()) => {
                        info!("workspace {id}: inbound secret saved to {}", path.display());
                        Some(Event::SecretSaved)
                    }
                    Err(e) => {
                        warn!(
                            "workspace {id}: could not save the inbound secret to {}: {e}; \
                             retrying on the next heartbeat",
                            path.display()
                        );
                        Some(Event::SecretSaveFailed)
                    }
                }
            }
            Effect::RegisterFailed { failure, retry_in } => {
                warn!(
                    "workspace {id}: register failed ({}); retrying in {:.1} s",
                    self.describe(failure),
                    retry_in.as_secs_f64()
                );
                None
            }
            Effect::BeatFailed { failure } => {
                warn!(
                    "workspace {id}: heartbeat failed ({})",
                    self.describe(failure)
                );
                None
            }
            Effect::Auth(e) if e.kind == auth::Kind::Escalated { first: true } => {
                self.escalation = Some(e);
                None
            }
            Effect::Auth(e) => {
                log!(e.level, "{}", auth::message(&e));
                None
            }
            Effect::Diagnose => {
                let diagnosis = self.diagnose();
                match self.escalation.take() {
                    Some(e) => log!(e.level, "{} {diagnosis}", auth::message(&e)),
                    None => log::error!("workspace {id}: {diagnosis}"),
                }
                None
            }
            Effect::FatalRegister { status } => {
                let _ = self.reports.send(LinkReport::RegisterRefused {
                    workspace: id.clone(),
                    status,
                    snippet: std::mem::take(&mut self.last_snippet),
                });
                None
            }
            Effect::Stopped => None,
        }
    }

    /// The current token, re-read from its file when it came from one.
    fn token(&self) -> Option<Secret> {
        match self.ws.token.current() {
            Ok(token) => {
                redact::register_secret(token.expose());
                Some(token)
            }
            Err(e) => {
                warn!("workspace {}: {e}; skipping this request", self.ws.id);
                None
            }
        }
    }

    fn outcome(&mut self, answer: Answer) -> Outcome {
        match answer {
            Answer::Ok {
                secret,
                minted_token,
                generation,
            } => {
                self.observe(generation);
                Outcome::Ok {
                    secret,
                    minted_token,
                }
            }
            Answer::Status { status, snippet } => {
                self.last_snippet = snippet;
                Outcome::Status(status)
            }
            Answer::Transport(why) => {
                self.last_snippet = why;
                Outcome::Transport
            }
        }
    }

    /// Keeps the newest generation (an answer without one keeps the last).
    fn observe(&mut self, generation: Option<i64>) {
        let Some(new) = generation else { return };
        if self.generation != Some(new) {
            match self.generation {
                Some(old) => info!(
                    "workspace {}: configuration generation {old} -> {new}",
                    self.ws.id
                ),
                None => info!("workspace {}: configuration generation {new}", self.ws.id),
            }
            self.generation = Some(new);
        }
    }

    fn describe(&self, failure: Failure) -> String {
        match failure {
            Failure::Status(status) if self.last_snippet.is_empty() => format!("HTTP {status}"),
            Failure::Status(status) => format!("HTTP {status}: {}", self.last_snippet),
            Failure::Transport => self.last_snippet.clone(),
        }
    }

    /// A minted token is saved only where no token file is yet: never
    /// overwrite a token an operator put there.
    fn persist_token(&self, token: &str) {
        redact::register_secret(token);
        let path = state_file(&self.settings, AUTH_TOKEN_FILE, &self.ws.id);
        if path.exists() {
            return;
        }
        match statefile::write_atomic(&path, token.as_bytes()) {
            Ok(()) => info!(
                "workspace {}: saved the minted token to {}",
                self.ws.id,
                path.display()
            ),
            Err(e) => warn!(
                "workspace {}: could not save the minted token to {}: {e}",
                self.ws.id,
                path.display()
            ),
        }
    }

    /// One `GET /workspaces/{id}`: deleted (410), still there, or unknown.
    fn diagnose(&self) -> String {
        let Some(token) = self.token() else {
            return String::new();
        };
        match registry::diagnose(&self.client, &self.ws, &token) {
            Diagnosis::Deleted { removed_at } => format!(
                "The platform confirms the workspace was deleted (removed_at: {}).",
                removed_at.as_deref().unwrap_or("unknown")
            ),
            Diagnosis::RevokedOrRotated => {
                "The workspace still exists, so its token was rotated or revoked.".to_string()
            }
            Diagnosis::Unconfirmed(why) => format!(
                "The platform could not confirm whether the workspace still exists ({why})."
            ),
        }
    }
}
