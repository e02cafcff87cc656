//! Transitions per second of each pure state machine, one line each:
//! `cargo bench --bench machines`. The machines sit on every heartbeat and
//! every upstream call, so this guards against one becoming costly.
//!
//! Each loop feeds a cycle of events that walks the machine through most of
//! its states (with time moving forward), so the figure is a mix, not a
//! single hot path.

use molecule_mcp::machine::auth::{self, AuthEscalation};
use molecule_mcp::machine::breaker::{self, Breaker, Ending};
use molecule_mcp::machine::heartbeat::{self, Heartbeat, Outcome};
use molecule_mcp::machine::XorShift;
use std::hint::black_box;
use std::time::{Duration, Instant};

const EVENTS: u64 = 5_000_000;

fn report(name: &str, events: u64, started: Instant) {
    let elapsed = started.elapsed().as_secs_f64();
    let rate = events as f64 / elapsed / 1e6;
    println!("{name}: {rate:.1} M transitions/s ({events} in {elapsed:.2} s)");
}

fn auth_escalation() {
    let statuses = [401, 401, 500, 401, 401, 200, 403, 403, 403, 403, 429];
    let mut machine = AuthEscalation::new("ws-bench");
    let now = Instant::now();
    let started = Instant::now();
    for i in 0..EVENTS {
        let status = statuses[(i % statuses.len() as u64) as usize];
        black_box(machine.handle(auth::Event::Status(black_box(status)), now));
    }
    black_box(machine.count());
    report("auth_escalation", EVENTS, started);
}

fn heartbeat() {
    let mut machine = Heartbeat::new(
        "ws-bench",
        heartbeat::Config::default(),
        Box::new(XorShift::new(1)),
    );
    let mut now = Instant::now();
    machine.handle(heartbeat::Event::Start, now);
    let answers = [
        Outcome::Status(503),
        Outcome::Ok {
            secret: Some("secret-a".into()),
            minted_token: None,
        },
        Outcome::Status(401),
        Outcome::Transport,
        Outcome::Ok {
            secret: Some("secret-b".into()),
            minted_token: None,
        },
    ];
    let started = Instant::now();
    let mut n = 0u64;
    let mut pending = None;
    while n < EVENTS {
        // Answer whatever is in flight, else move time to the deadline.
        let event = match machine.in_flight() {
            Some(heartbeat::Request::Register) => {
                heartbeat::Event::RegisterDone(answers[(n % answers.len() as u64) as usize].clone())
            }
            Some(heartbeat::Request::Beat) => {
                heartbeat::Event::BeatDone(answers[(n % answers.len() as u64) as usize].clone())
            }
            None => match pending.take() {
                Some(saved) => saved,
                None => {
                    now = machine
                        .next_deadline()
                        .unwrap_or(now + Duration::from_secs(1));
                    heartbeat::Event::Tick
                }
            },
        };
        for effect in machine.handle(event, now) {
            if let heartbeat::Effect::PersistSecret(_) = black_box(effect) {
                pending = Some(heartbeat::Event::SecretSaved);
            }
        }
        n += 1;
    }
    report("heartbeat", n, started);
}

fn breaker() {
    use breaker::Event::*;
    let mut machine = Breaker::new(breaker::Config::default(), Box::new(XorShift::new(2)));
    let mut now = Instant::now();
    let cycle = [
        CallFailed(Ending::Timeout),
        CallSucceeded,
        CallFailed(Ending::Server),
        CallFailed(Ending::Timeout),
        CallFailed(Ending::Transport),
        Tick,
        ProbeFailed(Ending::Timeout),
        Tick,
        ProbeSucceeded,
        CallFailed(Ending::Permanent),
        ReviveRequested,
        ProbeSucceeded,
        CallFailed(Ending::AnsweredToolError),
    ];
    let started = Instant::now();
    let mut n = 0u64;
    for i in 0..EVENTS {
        let event = cycle[(i % cycle.len() as u64) as usize];
        if event == Tick {
            if let Some(deadline) = machine.next_deadline() {
                now = now.max(deadline);
            }
        }
        // Calls arrive between the other events, in every state.
        if i % 7 == 0 {
            black_box(machine.admit(now));
            n += 1;
        }
        black_box(machine.handle(black_box(event), now));
        n += 1;
    }
    report("breaker", n, started);
}

fn main() {
    // Cargo passes `--bench`; any other argument is a filter on the names.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs: [(&str, fn()); 3] = [
        ("auth_escalation", auth_escalation),
        ("heartbeat", heartbeat),
        ("breaker", breaker),
    ];
    for (name, run) in runs {
        if filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())) {
            run();
        }
    }
}
