//! The upstream session machines as `spec/session.table` (the slot: the
//! generation guard) and `spec/session_call.table` (one request's retry
//! decisions) write them.

use super::breaker::{class as class_name, ending};
use super::check::{Clock, Model};
use molecule_mcp::machine::session::{
    Attempt, Decision, Outcome, Slot, SlotEffect, SlotEvent, SlotState, Stage,
};

pub struct SessionSlot;

impl Model for SessionSlot {
    type Machine = Slot;

    fn fresh(&self) -> Slot {
        Slot::new()
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "empty g0",
            "connecting g0",
            "live g1",
            "connecting g1 held=1",
            "empty g1",
            "stopped g1",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "need",
            "wait",
            "renew current",
            "renew old",
            "closed current",
            "closed old",
            "connected",
            "connect failed transport",
            "connect failed permanent",
            "shutdown",
        ]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Before the first session there is no older generation.
        &[
            ("empty g0", "renew old"),
            ("empty g0", "closed old"),
            ("connecting g0", "renew old"),
            ("connecting g0", "closed old"),
        ]
    }

    fn apply(
        &self,
        slot: &mut Slot,
        event: &str,
        _clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let current = slot.generation();
        let old = || {
            current
                .checked_sub(1)
                .ok_or_else(|| format!("{event}: no generation before g0"))
        };
        let event = match event {
            "need" => SlotEvent::Need,
            "wait" => SlotEvent::Wait,
            "renew current" => SlotEvent::Renew {
                generation: current,
            },
            "renew old" => SlotEvent::Renew { generation: old()? },
            "closed current" => SlotEvent::Closed {
                generation: current,
            },
            "closed old" => SlotEvent::Closed { generation: old()? },
            "connected" => SlotEvent::Connected,
            "shutdown" => SlotEvent::Shutdown,
            other => match other.strip_prefix("connect failed ") {
                Some(class) => SlotEvent::ConnectFailed(ending(class)?),
                None => return Err(format!("unknown slot event {other:?}")),
            },
        };
        Ok(slot.handle(event).iter().map(render_slot_effect).collect())
    }

    fn render(&self, slot: &Slot, _clock: &Clock) -> String {
        let state = match slot.state() {
            SlotState::Empty => "empty",
            SlotState::Connecting => "connecting",
            SlotState::Live => "live",
            SlotState::Stopped => "stopped",
        };
        let mut s = format!("{state} g{}", slot.generation());
        if slot.held() > 0 {
            s.push_str(&format!(" held={}", slot.held()));
        }
        if slot.connecting() != (slot.state() == SlotState::Connecting) {
            s.push_str(&format!(" connecting={}", slot.connecting()));
        }
        s
    }
}

fn render_slot_effect(effect: &SlotEffect) -> String {
    match effect {
        SlotEffect::Connect => "Connect".into(),
        SlotEffect::Drop(g) => format!("Drop(g{g})"),
        SlotEffect::Hand(g) => format!("Hand(g{g})"),
        SlotEffect::Hold => "Hold".into(),
        SlotEffect::Release(g) => format!("Release(g{g})"),
        SlotEffect::Fail(class) => format!("Fail({})", class_name(*class)),
        SlotEffect::Refuse => "Refuse".into(),
        SlotEffect::Discard => "Discard".into(),
    }
}

pub struct SessionCall;

impl Model for SessionCall {
    type Machine = Attempt;

    fn fresh(&self) -> Attempt {
        Attempt::new(false)
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "first",
            "first replayable",
            "renewing",
            "renewing replayable",
            "retrying",
            "retrying replayable",
            "done",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "answered",
            "expired",
            "lost sent",
            "lost unsent",
            "failed timeout",
            "failed server",
            "failed answered-invalid-call",
            "failed cancelled",
            "auth",
            "renewed",
            "renew failed transport",
        ]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["replayable tool", "renew failed server"]
    }

    fn apply(
        &self,
        attempt: &mut Attempt,
        event: &str,
        _clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let outcome = match event {
            // The tool's annotations, known before the first try.
            "replayable tool" => {
                if attempt.stage() != Stage::First || attempt.replayable() {
                    return Err("replayable tool: only before the first outcome".into());
                }
                *attempt = Attempt::new(true);
                return Ok(Vec::new());
            }
            "answered" => Outcome::Answered,
            "expired" => Outcome::Expired,
            "lost sent" => Outcome::Lost { sent: true },
            "lost unsent" => Outcome::Lost { sent: false },
            "auth" => Outcome::Auth,
            "renewed" => Outcome::Renewed,
            other => {
                if let Some(class) = other.strip_prefix("renew failed ") {
                    Outcome::RenewFailed(ending(class)?)
                } else if let Some(class) = other.strip_prefix("failed ") {
                    Outcome::Failed(ending(class)?)
                } else {
                    return Err(format!("unknown call event {other:?}"));
                }
            }
        };
        Ok(attempt
            .handle(outcome)
            .iter()
            .map(render_decision)
            .collect())
    }

    fn render(&self, attempt: &Attempt, _clock: &Clock) -> String {
        let stage = match attempt.stage() {
            Stage::First => "first",
            Stage::Renewing => "renewing",
            Stage::Retrying => "retrying",
            // Once done, the annotation no longer matters.
            Stage::Done => return "done".into(),
        };
        if attempt.replayable() {
            format!("{stage} replayable")
        } else {
            stage.into()
        }
    }
}

fn render_decision(decision: &Decision) -> String {
    match decision {
        Decision::Return => "Return".into(),
        Decision::Renew => "Renew".into(),
        Decision::Retry => "Retry".into(),
        Decision::Fail {
            class,
            counted: false,
        } => format!("Fail({})", class_name(*class)),
        Decision::Fail {
            class,
            counted: true,
        } => format!("Fail({} counted)", class_name(*class)),
        Decision::Uncertain => "Uncertain".into(),
        Decision::AuthRejected => "AuthRejected".into(),
    }
}
