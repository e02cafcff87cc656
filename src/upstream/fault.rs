//! A failed connect, ping or list read as the upstream machine sees it
//! (`machine::upstream::Fault`), and the short text kept of it for
//! `doctor` and the next state-change line.

use super::error::CallError;
use crate::machine::breaker::Ending;
use crate::machine::upstream::Fault;
use crate::redact::redact;

/// `connect`: the error ended a connect (a spawn failure there is
/// permanent, a lost connection is not).
pub(crate) fn fault(error: &CallError, connect: bool) -> Fault {
    let class = if connect {
        error.connect_ending()
    } else {
        error.breaker_ending()
    };
    match error {
        CallError::SessionExpired { .. } => Fault::Expired,
        CallError::Auth { status, .. } => Fault::Auth(*status),
        CallError::Closed => Fault::Closed,
        _ => Fault::Failed(class.unwrap_or(Ending::Server)),
    }
}

/// The text worth showing as the server's last error; `None` for what we
/// did ourselves (closed, cancelled).
pub(crate) fn last_error(error: &CallError) -> Option<String> {
    (!matches!(error, CallError::Closed | CallError::Cancelled)).then(|| redact(&error.to_string()))
}
