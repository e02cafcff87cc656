//! The process: starts the platform links and the MCP server, and ends them
//! in order on stdin EOF, SIGTERM/SIGINT, or a refused first register.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{at, bounded, never, select, unbounded, Receiver, Sender};
use log::{error, info};

use crate::backend::Backend;
use crate::config::Config;
use crate::mcp::handler::Handler;
use crate::mcp::server::{Server, ServerOptions};
use crate::platform::http::Client;
use crate::platform::link::{self, LinkReport, Settings};
use crate::redact;
use crate::shutdown::{self, Shutdown};
use crate::upstream::config::ServerEntry;
use crate::upstream::gateway::Gateway;
use crate::upstream::orphans;

/// Exit code when the servers file cannot be used at all.
pub const EXIT_SERVERS_FILE: i32 = 2;

/// Exit code when the platform refused a workspace token at register.
pub const EXIT_TOKEN_REFUSED: i32 = 3;

/// Exit code when the process could not start serving at all.
const EXIT_FAILURE: i32 = 1;

/// How long shutdown waits for the background threads; a thread stuck in a
/// blocking request is left behind, and `exit` ends it.
const JOIN_GRACE: Duration = Duration::from_millis(800);

/// How long the server gets to finish answering after shutdown starts
/// (its workers' grace plus the writer's flush).
const SERVER_GRACE: Duration = Duration::from_millis(1500);

/// How long leftovers of upstream servers get after SIGTERM (and again
/// after SIGKILL).
const SWEEP_GRACE: Duration = Duration::from_millis(300);

/// The longest stdin EOF waits for first registers: the request timeout
/// plus a margin for the thread to report.
const FIRST_REGISTER_WAIT: Duration = Duration::from_secs(12);

/// The inbox pollers start once the first line has gone out on stdout (the
/// answer to `initialize`, normally), so that their threads and first
/// platform call are not on that answer's path; at the latest this long
/// after start, for a client that is slow to send anything.
const BACKGROUND_AT_THE_LATEST: Duration = Duration::from_millis(200);

/// Runs the server until stdin closes or a signal arrives; returns the exit code.
pub fn run(config: Config) -> i32 {
    let started = Instant::now();
    let servers = match load_servers(&config) {
        Ok(servers) => servers,
        Err(code) => return code,
    };
    if servers.is_some() {
        orphans::become_subreaper();
    }
    let shutdown = Shutdown::new();
    shutdown::on_signals(shutdown.clone());
    remember_secrets(&config);

    let client = Client::new();
    let (reports_tx, reports) = unbounded();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut links = 0;
    if let Some(platform) = &config.platform {
        if config.disable_heartbeat {
            info!("MOLECULE_MCP_DISABLE_HEARTBEAT is set: no register, no heartbeat");
        } else {
            let settings = Settings {
                interval: config.heartbeat_interval,
                configs_dir: config.configs_dir.clone(),
                multi: platform.multi,
                workspace_ids: platform.workspaces.iter().map(|w| w.id.clone()).collect(),
                started,
            };
            for ws in &platform.workspaces {
                match link::spawn(
                    ws.clone(),
                    settings.clone(),
                    client.clone(),
                    shutdown.signal(),
                    reports_tx.clone(),
                ) {
                    Ok(handle) => {
                        threads.push(handle);
                        links += 1;
                    }
                    Err(e) => error!(
                        "workspace {}: cannot start the heartbeat thread: {e}",
                        ws.id
                    ),
                }
            }
        }
    }
    drop(reports_tx);

    let server = Server::new(ServerOptions::default()).watch_hangup(stdin_hung_up);
    let backend = Backend::new(&config, client, server.outbox());
    let gateway = servers.map(|entries| {
        Arc::new(Gateway::start(
            entries,
            &config.env,
            server.outbox(),
            &shutdown,
        ))
    });
    let backend = Arc::new(backend.with_gateway(gateway.clone()));
    let handler: Arc<dyn Handler> = backend.clone();
    let stdin_ended = Arc::new(AtomicBool::new(false));
    let (first_line_tx, first_line) = bounded(1);
    let output = FirstLine {
        inner: std::io::stdout(),
        sent: Some(first_line_tx),
    };
    let Some(served) = serve_in_thread(
        server,
        handler,
        output,
        shutdown.clone(),
        stdin_ended.clone(),
    ) else {
        shutdown.trigger();
        return EXIT_FAILURE;
    };

    let mut background = Background {
        backend: Some(backend),
        first_line,
        latest: started + BACKGROUND_AT_THE_LATEST,
    };
    let mut registered = HashSet::new();
    let mut code = wait_for_end(
        &shutdown,
        &reports,
        &served,
        &mut registered,
        &mut background,
        &mut threads,
    );
    if code == 0 && stdin_ended.load(Ordering::SeqCst) {
        code = first_registers(&reports, links, &mut registered);
    }
    // Everything stops at once: the server drains its answers while the
    // links, pollers and upstream children end beside it.
    shutdown.trigger();
    let upstreams = gateway.map(|gateway| std::thread::spawn(move || gateway.shutdown()));
    let _ = served.recv_timeout(SERVER_GRACE);
    crate::threads::join_within(threads, JOIN_GRACE);
    // Upstream children are ended (and reaped) before we exit, and so is
    // anything they left behind.
    if let Some(upstreams) = upstreams {
        let _ = upstreams.join();
        orphans::sweep(SWEEP_GRACE);
    }
    code
}

/// The upstream servers file, when one is configured. A file that cannot be
/// used at all ends the process with exit 2 and `PATH:LINE:COLUMN: what`.
fn load_servers(config: &Config) -> Result<Option<Vec<ServerEntry>>, i32> {
    let Some(path) = &config.servers_file else {
        return Ok(None);
    };
    match crate::upstream::config::load(path) {
        Ok(entries) => Ok(Some(entries)),
        Err(e) => {
            use std::io::Write;
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr, "{}", redact::redact(&e.to_string()));
            let _ = stderr.flush();
            Err(EXIT_SERVERS_FILE)
        }
    }
}

/// What starts once the server has answered: the backend's background
/// threads (the inbox pollers).
struct Background {
    /// Taken when they start.
    backend: Option<Arc<Backend>>,
    first_line: Receiver<()>,
    latest: Instant,
}

impl Background {
    /// What to wait on before starting: never, once started.
    fn waits(&self) -> (Receiver<()>, Receiver<Instant>) {
        match self.backend {
            Some(_) => (self.first_line.clone(), at(self.latest)),
            None => (never(), never()),
        }
    }

    fn start(&mut self, shutdown: &Shutdown, threads: &mut Vec<JoinHandle<()>>) {
        if let Some(backend) = self.backend.take() {
            threads.extend(backend.start_background(shutdown));
        }
    }
}

/// Blocks until the server ends, shutdown starts, or a link reports that a
/// token was refused; returns the exit code. `registered` collects the
/// workspaces whose first register was answered. Starts `background`
/// when its time comes, its threads joining `threads`.
fn wait_for_end(
    shutdown: &Shutdown,
    reports: &Receiver<LinkReport>,
    served: &Receiver<()>,
    registered: &mut HashSet<String>,
    background: &mut Background,
    threads: &mut Vec<JoinHandle<()>>,
) -> i32 {
    let stop = shutdown.signal();
    let mut reports = Some(reports.clone());
    loop {
        let report_rx = reports.clone().unwrap_or_else(crossbeam_channel::never);
        let (first_line, latest) = background.waits();
        select! {
            recv(served) -> _ => return 0,
            recv(stop) -> _ => return 0,
            // A writer that ended before writing anything leaves the
            // deadline to decide.
            recv(first_line) -> sent => match sent {
                Ok(()) => background.start(shutdown, threads),
                Err(_) => background.first_line = never(),
            },
            recv(latest) -> _ => background.start(shutdown, threads),
            recv(report_rx) -> msg => match msg {
                Ok(LinkReport::RegisterRefused { workspace, status, snippet }) => {
                    error!("{}", refused_message(&workspace, status, &snippet));
                    return EXIT_TOKEN_REFUSED;
                }
                Ok(LinkReport::FirstRegisterDone { workspace }) => {
                    registered.insert(workspace);
                }
                // Every link has ended (or none runs): keep serving.
                Err(_) => reports = None,
            },
        }
    }
}

/// After stdin EOF: waits for the first register of each of `links`
/// workspaces (each bounded by its request timeout, a few seconds of grace
/// on top) so that a refused token still ends in exit 3 and its message.
fn first_registers(
    reports: &Receiver<LinkReport>,
    links: usize,
    answered: &mut HashSet<String>,
) -> i32 {
    let deadline = Instant::now() + FIRST_REGISTER_WAIT;
    while answered.len() < links {
        let left = deadline.saturating_duration_since(Instant::now());
        match reports.recv_timeout(left) {
            Ok(LinkReport::RegisterRefused {
                workspace,
                status,
                snippet,
            }) => {
                error!("{}", refused_message(&workspace, status, &snippet));
                return EXIT_TOKEN_REFUSED;
            }
            Ok(LinkReport::FirstRegisterDone { workspace }) => {
                answered.insert(workspace);
            }
            Err(_) => break,
        }
    }
    0
}

/// The exit-3 text of platform.md §2.
pub fn refused_message(workspace: &str, status: u16, snippet: &str) -> String {
    let detail = if snippet.is_empty() {
        String::new()
    } else {
        format!(" ({snippet})")
    };
    format!(
        "the platform refused the token of workspace {workspace} at register: HTTP {status}{detail}. \
         The token is wrong, revoked, or belongs to another workspace. Regenerate the token from \
         the canvas Tokens tab, update MOLECULE_WORKSPACE_TOKEN (or the token file) in the MCP \
         configuration, and restart."
    )
}

/// Serves stdin and `output` on its own thread; `None` when it cannot start.
fn serve_in_thread(
    server: Server,
    handler: Arc<dyn Handler>,
    output: impl std::io::Write + Send + 'static,
    shutdown: Shutdown,
    ended: Arc<AtomicBool>,
) -> Option<Receiver<()>> {
    let (done_tx, done) = bounded(1);
    let stop = shutdown.signal();
    let input = EndSignal {
        inner: std::io::stdin(),
        shutdown,
        ended,
    };
    let spawned = std::thread::Builder::new()
        .name("mcp".into())
        // Starts the server's threads and waits for its end.
        .stack_size(128 * 1024)
        .spawn(move || {
            let end = server.serve(input, output, handler, stop);
            info!("MCP server ended: {:?}", end.reason);
            let _ = done_tx.send(());
        });
    match spawned {
        Ok(_) => Some(done),
        Err(e) => {
            error!("cannot start the MCP server thread: {e}");
            None
        }
    }
}

/// Stdin that starts shutdown the moment it ends, so the rest of the
/// process stops while the server is still draining its last answers.
struct EndSignal<R> {
    inner: R,
    shutdown: Shutdown,
    ended: Arc<AtomicBool>,
}

impl<R: std::io::Read> std::io::Read for EndSignal<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let result = self.inner.read(buf);
        let end = match &result {
            Ok(0) => !buf.is_empty(),
            Err(e) => e.kind() != std::io::ErrorKind::Interrupted,
            _ => false,
        };
        if end {
            self.ended.store(true, Ordering::SeqCst);
            self.shutdown.trigger();
        }
        result
    }
}

/// Stdout that says when its first line has gone out (the server flushes
/// after each line).
struct FirstLine<W> {
    inner: W,
    sent: Option<Sender<()>>,
}

impl<W: std::io::Write> std::io::Write for FirstLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        if let Some(sent) = self.sent.take() {
            let _ = sent.try_send(());
        }
        Ok(())
    }
}

/// Whether the client has closed our stdin (a pipe's writer gone, a
/// socket shut down), even if unread lines remain: asked only while the
/// server cannot read on because the client reads none of its answers.
fn stdin_hung_up() -> bool {
    let mut stdin = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; a zero timeout
    // never blocks and nothing is read.
    let ready = unsafe { libc::poll(&mut stdin, 1, 0) };
    ready > 0 && stdin.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0
}

/// Every token we know of is redacted from every log line from here on.
fn remember_secrets(config: &Config) {
    let Some(platform) = &config.platform else {
        return;
    };
    for ws in &platform.workspaces {
        if let Ok(token) = ws.token.current() {
            redact::register_secret(token.expose());
        }
    }
}

/// `molecule-mcp doctor`: checks the setup and prints one line per check;
/// returns the exit code (1 when any check failed).
pub fn doctor(config: Config) -> i32 {
    crate::doctor::run(&config)
}
