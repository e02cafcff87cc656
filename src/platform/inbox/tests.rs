//! The inbox store: persistence order, restarts, pops and waiting.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never};
use serde_json::json;

use super::files;
use super::message::{Kind, Message};
use super::queue::Limits;
use super::row::{self, Arrival, Parsed};
use super::store::{Inbox, Popped};

const WS: &str = "11111111-2222-4333-8444-555555555555";
const PEER: &str = "99999999-8888-4777-8666-555555555555";

fn open(dir: &Path) -> Inbox {
    Inbox::open_at(dir, &[WS], false, Limits::default())
}

fn msg(id: &str, seq: Option<i64>) -> Message {
    Message {
        activity_id: id.into(),
        text: format!("text {id}"),
        peer_id: PEER.into(),
        kind: Kind::PeerAgent,
        method: "message/send".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        arrival_workspace_id: None,
        agent_card_url: None,
        peer_name: None,
        peer_role: None,
        attachments: Vec::new(),
        seq,
        workspace_id: WS.into(),
    }
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.activity_id.as_str()).collect()
}

#[test]
fn recorded_messages_are_on_disk_before_record_returns() {
    let dir = crate::config::test_dir("inbox-durable");
    let inbox = open(&dir);
    let got = inbox.record(WS, vec![msg("a", None), msg("b", None)]);
    assert!(got.durable);
    assert_eq!(ids(&got.new), ["a", "b"]);
    let file = files::queue_path(&dir, WS);
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"a\"") && text.contains("\"b\""), "{text}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crash_between_queue_and_cursor_loses_nothing_and_duplicates_nothing() {
    let dir = crate::config::test_dir("inbox-crash");
    {
        let inbox = open(&dir);
        inbox.record(WS, vec![msg("a", None), msg("b", None)]);
        assert!(inbox.pop("a").removed());
        // Crash: the cursor was never written, the inbox is simply dropped.
    }
    let inbox = open(&dir);
    assert_eq!(ids(&inbox.peek(10)), ["b"]);
    // The poller re-reads the same rows from the old cursor.
    let again = inbox.record(WS, vec![msg("a", None), msg("b", None), msg("c", None)]);
    assert_eq!(ids(&again.new), ["c"]);
    assert_eq!(ids(&inbox.peek(10)), ["b", "c"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pop_is_idempotent_and_survives_a_restart() {
    let dir = crate::config::test_dir("inbox-pop");
    let inbox = open(&dir);
    inbox.record(WS, vec![msg("a", None)]);
    assert!(inbox.pop("a").removed());
    assert!(!inbox.pop("a").removed());
    assert!(!inbox.pop("never-seen").removed());
    drop(inbox);
    let inbox = open(&dir);
    assert!(inbox.is_empty());
    assert!(inbox.record(WS, vec![msg("a", None)]).new.is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn workspaces_merge_in_arrival_order_across_restarts() {
    let dir = crate::config::test_dir("inbox-merge");
    let other = "22222222-0000-4000-8000-000000000000";
    let both = [WS, other];
    {
        let inbox = Inbox::open_at(&dir, &both, true, Limits::default());
        inbox.record(other, vec![msg("x", None)]);
        inbox.record(WS, vec![msg("a", None)]);
        inbox.record(other, vec![msg("y", None)]);
    }
    let inbox = Inbox::open_at(&dir, &both, true, Limits::default());
    let pending = inbox.peek(10);
    assert_eq!(ids(&pending), ["x", "a", "y"]);
    assert_eq!(pending[0].workspace_id, other);
    assert_eq!(pending[0].arrival_workspace_id.as_deref(), Some(other));
    assert_eq!(inbox.peer_workspace(PEER).as_deref(), Some(other));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_queue_file_is_moved_aside_and_the_inbox_works() {
    let dir = crate::config::test_dir("inbox-corrupt");
    let file = files::queue_path(&dir, WS);
    fs::write(&file, b"\x00\x01 not json").unwrap();
    let inbox = open(&dir);
    assert!(inbox.is_empty());
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.contains(".corrupt-")), "{names:?}");
    assert!(inbox.record(WS, vec![msg("a", None)]).durable);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_queue_is_not_durable_until_it_can_be_written() {
    let dir = crate::config::test_dir("inbox-unwritable");
    let inbox = open(&dir);
    // A directory where the file should go makes every write fail.
    let file = files::queue_path(&dir, WS);
    fs::create_dir_all(file.join("blocker")).unwrap();
    let first = inbox.record(WS, vec![msg("a", None)]);
    assert_eq!(ids(&first.new), ["a"]);
    assert!(!first.durable);
    // Same rows again: nothing new, and still not on disk.
    let second = inbox.record(WS, vec![msg("a", None)]);
    assert!(second.new.is_empty() && !second.durable);
    fs::remove_dir_all(&file).unwrap();
    let third = inbox.record(WS, vec![msg("a", None)]);
    assert!(third.new.is_empty() && third.durable);
    assert!(fs::read_to_string(&file).unwrap().contains("\"a\""));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pop_that_cannot_be_saved_says_so_and_the_next_write_carries_it() {
    let dir = crate::config::test_dir("inbox-pop-unsaved");
    let inbox = open(&dir);
    assert!(
        inbox
            .record(WS, vec![msg("a", None), msg("b", None)])
            .durable
    );
    let file = files::queue_path(&dir, WS);
    fs::remove_file(&file).unwrap();
    fs::create_dir_all(file.join("blocker")).unwrap();
    assert_eq!(inbox.pop("a"), Popped::Unsaved);
    assert_eq!(ids(&inbox.peek(10)), ["b"]);
    fs::remove_dir_all(&file).unwrap();
    // A poll with nothing new still writes the pending removal.
    assert!(inbox.record(WS, vec![msg("b", None)]).durable);
    drop(inbox);
    let inbox = open(&dir);
    assert_eq!(ids(&inbox.peek(10)), ["b"]);
    assert_eq!(inbox.pop("b"), Popped::Saved);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_queue_stops_and_reports_where() {
    let dir = crate::config::test_dir("inbox-full");
    let limits = Limits {
        messages: 2,
        ..Limits::default()
    };
    let inbox = Inbox::open_at(&dir, &[WS], false, limits);
    let got = inbox.record(WS, vec![msg("a", None), msg("b", None), msg("c", None)]);
    assert_eq!(got.stopped_at.as_deref(), Some("c"));
    assert!(got.durable);
    assert_eq!(inbox.len(), 2);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pops_owe_the_highest_seq() {
    let dir = crate::config::test_dir("inbox-acks");
    let inbox = open(&dir);
    inbox.record(
        WS,
        vec![msg("a", Some(3)), msg("b", Some(9)), msg("c", None)],
    );
    let wake = inbox.ack_signal();
    inbox.pop("b");
    inbox.pop("a");
    inbox.pop("c");
    assert!(wake.try_recv().is_ok());
    assert_eq!(inbox.take_acks(), [(WS.to_string(), 9)]);
    inbox.acks_unsupported(WS);
    inbox.record(WS, vec![msg("d", Some(10))]);
    inbox.pop("d");
    assert!(inbox.take_acks().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_returns_at_once_when_a_message_is_pending() {
    let dir = crate::config::test_dir("inbox-wait-now");
    let inbox = open(&dir);
    inbox.record(WS, vec![msg("a", None), msg("b", None)]);
    let started = Instant::now();
    let got = inbox.wait(Duration::from_secs(30), &never());
    assert_eq!(got.map(|m| m.activity_id).as_deref(), Some("a"));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Not removed.
    assert_eq!(inbox.len(), 2);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_wakes_on_arrival() {
    let dir = crate::config::test_dir("inbox-wait-arrival");
    let inbox = Arc::new(open(&dir));
    let writer = inbox.clone();
    let feeder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        writer.record(WS, vec![msg("late", None)]);
    });
    let started = Instant::now();
    let got = inbox.wait(Duration::from_secs(30), &never());
    assert_eq!(got.map(|m| m.activity_id).as_deref(), Some("late"));
    assert!(started.elapsed() < Duration::from_secs(10));
    feeder.join().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_times_out_empty() {
    let dir = crate::config::test_dir("inbox-wait-timeout");
    let inbox = open(&dir);
    let started = Instant::now();
    assert_eq!(inbox.wait(Duration::from_millis(150), &never()), None);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(inbox.wait(Duration::ZERO, &never()), None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_ends_on_cancel_by_message_or_disconnect() {
    let dir = crate::config::test_dir("inbox-wait-cancel");
    let inbox = Arc::new(open(&dir));
    let (tx, rx) = bounded::<()>(1);
    let waiter = {
        let inbox = inbox.clone();
        thread::spawn(move || {
            let started = Instant::now();
            (inbox.wait(Duration::from_secs(60), &rx), started.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(50));
    tx.send(()).unwrap();
    let (got, waited) = waiter.join().unwrap();
    assert_eq!(got, None);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let (tx, rx) = bounded::<()>(0);
    drop(tx);
    let started = Instant::now();
    assert_eq!(inbox.wait(Duration::from_secs(60), &rx), None);
    assert!(started.elapsed() < Duration::from_secs(10));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_huge_timeout_does_not_overflow() {
    let dir = crate::config::test_dir("inbox-wait-max");
    let inbox = open(&dir);
    let (tx, rx) = bounded::<()>(0);
    drop(tx);
    assert_eq!(inbox.wait(Duration::MAX, &rx), None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rows_to_inbox_end_to_end_without_network() {
    let dir = crate::config::test_dir("inbox-rows");
    let inbox = open(&dir);
    let at = Arrival {
        workspace_id: WS,
        platform_url: "http://p",
        multi: false,
    };
    let rows = [
        json!({"id": "r1", "source_id": PEER, "method": "message/send", "summary": "s1"}),
        json!({"id": "r2", "source_id": WS, "method": "message/send"}),
        json!({"id": "r3", "source_id": null, "method": "notify"}),
        json!({"id": "r1", "source_id": PEER, "method": "message/send", "summary": "s1"}),
    ];
    let messages: Vec<Message> = rows
        .iter()
        .filter_map(|r| match row::parse(r, &at) {
            Parsed::Message(m) => Some(*m),
            _ => None,
        })
        .collect();
    let got = inbox.record(WS, messages);
    assert_eq!(ids(&got.new), ["r1"]);
    assert_eq!(inbox.peer_workspace(PEER).as_deref(), Some(WS));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_queue_file_drops_the_cursor_so_the_backlog_is_read_again() {
    let dir = crate::config::test_dir("inbox-damaged");
    let cursor = files::cursor_path(&dir, WS, false, &[WS]);
    files::write_cursor(&cursor, "row-41").unwrap();
    fs::write(
        files::queue_path(&dir, WS),
        "{\"version\": 1, \"messages\": [cut",
    )
    .unwrap();
    let inbox = open(&dir);
    assert!(inbox.is_empty());
    assert_eq!(
        files::read_cursor(&cursor),
        None,
        "the cursor would skip the lost messages"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_queue_file_keeps_the_cursor() {
    // An upgrade from the wrapper leaves a cursor and no queue file: those
    // rows were already delivered by it.
    let dir = crate::config::test_dir("inbox-upgrade");
    let cursor = files::cursor_path(&dir, WS, false, &[WS]);
    files::write_cursor(&cursor, "row-41").unwrap();
    let _inbox = open(&dir);
    assert_eq!(files::read_cursor(&cursor).as_deref(), Some("row-41"));
    fs::remove_dir_all(&dir).unwrap();
}
