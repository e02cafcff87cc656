//! The tables in `spec/` are the audited description of the state machines.
//! These tests hold them to the code: every row is driven through the real
//! machine, every (state class, event class) pair must have exactly one row,
//! and every cell of every row matters (a changed cell is caught).

mod tables;

use molecule_mcp::machine::auth;
use molecule_mcp::machine::heartbeat::{Config, Effect, Event, Heartbeat, Outcome};
use molecule_mcp::machine::Fixed;
use std::path::Path;
use std::time::Instant;
use tables::check::{Checker, Model};
use tables::log_limit::LogLimit;
use tables::progress::Progress;
use tables::resumption::Stream;
use tables::session::{SessionCall, SessionSlot};
use tables::startup_wait::Startup;
use tables::table::{parse, Section, Table};
use tables::upstream::Composite;
use tables::{auth::Auth, breaker::Guard, heartbeat::Link, mutate::mutants};

fn load(name: &str) -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// With `BLESS=1` (`make bless`) the result cells of the table are first
/// rewritten from the machine, to be reviewed as a diff; the check that
/// follows is the same either way.
fn bless<M: Model>(checker: &Checker<M>, name: &str) {
    if std::env::var_os("BLESS").is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (blessed, problems) = checker.bless(&text);
    assert!(
        problems.is_empty(),
        "spec/{name}: rows the machine cannot run:\n{}",
        problems.join("\n")
    );
    if blessed != text {
        std::fs::write(&path, blessed)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

fn assert_table_holds<M: Model>(model: M, name: &str) {
    let checker = Checker::new(model);
    bless(&checker, name);
    let table = load(name);
    let errors = checker.check(&table, false);
    assert!(
        errors.is_empty(),
        "spec/{name} does not describe the machine:\n{}",
        errors.join("\n")
    );
    // A table without sequences or rows would pass vacuously.
    for section in [Section::Setup, Section::Transitions, Section::Sequences] {
        assert!(
            table.section(section).next().is_some(),
            "spec/{name} has no {section:?} rows"
        );
    }
}

fn assert_every_mutation_is_caught<M: Model>(model: M, name: &str) {
    let table = load(name);
    let checker = Checker::new(model);
    assert!(
        checker.check(&table, true).is_empty(),
        "spec/{name} must hold first"
    );
    let all = mutants(&table);
    let survivors: Vec<&str> = all
        .iter()
        .filter(|m| checker.check(&m.table, true).is_empty())
        .map(|m| m.what.as_str())
        .collect();
    assert!(
        survivors.is_empty(),
        "spec/{name}: {} of {} changed tables still pass:\n{}",
        survivors.len(),
        all.len(),
        survivors.join("\n")
    );
    // Each row yields several variants; far fewer means mutation is broken.
    assert!(
        all.len() > 3 * table.rows.len(),
        "only {} mutants",
        all.len()
    );
}

#[test]
fn auth_escalation_table_holds() {
    assert_table_holds(Auth, "auth_escalation.table");
}

#[test]
fn heartbeat_table_holds() {
    assert_table_holds(Link, "heartbeat.table");
}

#[test]
fn breaker_table_holds() {
    assert_table_holds(Guard, "breaker.table");
}

#[test]
fn session_slot_table_holds() {
    assert_table_holds(SessionSlot, "session.table");
}

#[test]
fn session_call_table_holds() {
    assert_table_holds(SessionCall, "session_call.table");
}

#[test]
fn upstream_table_holds() {
    assert_table_holds(Composite, "upstream.table");
}

#[test]
fn startup_wait_table_holds() {
    assert_table_holds(Startup, "startup_wait.table");
}

#[test]
fn resumption_table_holds() {
    assert_table_holds(Stream, "resumption.table");
}

#[test]
fn log_limit_table_holds() {
    assert_table_holds(LogLimit, "log_limit.table");
}

#[test]
fn log_limit_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(LogLimit, "log_limit.table");
}

#[test]
fn progress_table_holds() {
    assert_table_holds(Progress, "progress.table");
}

#[test]
fn progress_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Progress, "progress.table");
}

#[test]
fn startup_wait_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Startup, "startup_wait.table");
}

#[test]
fn resumption_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Stream, "resumption.table");
}

#[test]
fn upstream_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Composite, "upstream.table");
}

#[test]
fn session_slot_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(SessionSlot, "session.table");
}

#[test]
fn session_call_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(SessionCall, "session_call.table");
}

#[test]
fn auth_escalation_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Auth, "auth_escalation.table");
}

#[test]
fn heartbeat_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Link, "heartbeat.table");
}

#[test]
fn breaker_table_catches_every_changed_cell() {
    assert_every_mutation_is_caught(Guard, "breaker.table");
}

/// Seed 001, end to end through the workspace link: three heartbeat 401s
/// give one error whose text names the workspace, says revoked, and points
/// at regenerating the token in the Tokens tab; the shell is asked once to
/// diagnose.
#[test]
fn three_heartbeat_401s_give_one_actionable_error() {
    let t0 = Instant::now();
    let mut link = Heartbeat::new("ws-deleted", Config::default(), Box::new(Fixed(0.0)));
    link.handle(Event::Start, t0);
    link.handle(
        Event::RegisterDone(Outcome::Ok {
            secret: None,
            minted_token: None,
        }),
        t0,
    );
    let mut effects = Vec::new();
    for _ in 0..3 {
        effects.extend(link.handle(Event::BeatDone(Outcome::Status(401)), t0));
        let due = link.next_deadline().expect("the next beat is scheduled");
        link.handle(Event::Tick, due);
    }
    let auth: Vec<&auth::Effect> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Auth(a) => Some(a),
            _ => None,
        })
        .collect();
    let errors: Vec<&&auth::Effect> = auth
        .iter()
        .filter(|a| a.level == log::Level::Error)
        .collect();
    assert_eq!(auth.len(), 3, "{effects:?}");
    assert_eq!(errors.len(), 1, "{effects:?}");
    let text = auth::message(errors[0]);
    for keyword in [
        "revoked",
        "deleted",
        "ws-deleted",
        "regenerate",
        "Tokens tab",
        "restart",
    ] {
        assert!(text.contains(keyword), "{keyword:?} missing from: {text}");
    }
    let warning = auth::message(auth[0]);
    assert!(
        warning.contains("401") && warning.contains("1/3"),
        "{warning}"
    );
    let diagnoses = effects.iter().filter(|e| **e == Effect::Diagnose).count();
    assert_eq!(diagnoses, 1);
}

/// The checker itself: a table that is well formed but wrong is refused
/// with a message naming the line.
#[test]
fn checker_names_the_line_of_a_wrong_row() {
    let text = "[setup]\ncount=0 | -\ncount=1 | 401\ncount=2 | 401 x2\ncount=3 | 401 x3\n\
                count=22 | 401 x22\n[transitions]\ncount=0 | 401 | count=1 | -\n";
    let table = parse(text).expect("well formed");
    let errors = Checker::new(Auth).check(&table, false);
    assert!(
        errors.iter().any(|e| e.starts_with("line 8: effects")),
        "{errors:?}"
    );
    assert!(errors
        .iter()
        .any(|e| e.contains("no row for \"count=22\" + \"transport\"")));
}

/// Bless restores what the machine does: a table with a wrong next state and
/// wrong effects comes back exactly as written before, and a true table is
/// left untouched.
#[test]
fn bless_rewrites_only_the_result_cells_that_disagree() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/session.table");
    let text = std::fs::read_to_string(path).expect("spec/session.table");
    let checker = Checker::new(SessionSlot);
    let (same, problems) = checker.bless(&text);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(same, text);
    let row = "empty g0       | need                     | connecting g0 | Connect";
    assert!(text.contains(row), "the row this test changes is gone");
    let wrong = text.replace(
        row,
        "empty g0       | need                     | live g7       | Hold; Connect",
    );
    let (blessed, problems) = checker.bless(&wrong);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(blessed, text);
}
