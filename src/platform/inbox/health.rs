//! Keeps a failing poller from flooding the log: one warning when the kind
//! of failure changes, one info line when polls succeed again.

#[derive(Debug, Default)]
pub struct Health {
    failing: Option<String>,
}

impl Health {
    /// A poll failed with this kind of error; true when it should be logged.
    pub fn failed(&mut self, kind: &str) -> bool {
        if self.failing.as_deref() == Some(kind) {
            return false;
        }
        self.failing = Some(kind.to_string());
        true
    }

    /// A poll succeeded; true when it ends a failing spell.
    pub fn succeeded(&mut self) -> bool {
        self.failing.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_change_of_kind_and_one_recovery() {
        let mut h = Health::default();
        assert!(!h.succeeded());
        assert!(h.failed("HTTP 500"));
        assert!(!h.failed("HTTP 500"));
        assert!(h.failed("unreachable"));
        assert!(!h.failed("unreachable"));
        assert!(h.succeeded());
        assert!(!h.succeeded());
        assert!(h.failed("unreachable"));
    }
}
