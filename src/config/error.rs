//! Everything wrong with a configuration, collected so the operator can fix
//! it in one go rather than one restart per mistake.

use std::fmt;

use super::help;

/// Required variables in the order the `Currently missing:` line lists them.
pub const REQUIRED_ORDER: [&str; 3] = ["WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_WORKSPACE_TOKEN"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigError {
    /// Required variables that are not set, in [`REQUIRED_ORDER`].
    pub missing: Vec<String>,
    /// Values that are set but unusable; each names its variable or file and
    /// says how to fix it.
    pub problems: Vec<String>,
}

impl ConfigError {
    pub(crate) fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }

    pub(crate) fn missing(&mut self, name: &str) {
        if !self.missing.iter().any(|m| m == name) {
            self.missing.push(name.to_string());
        }
        let rank = |m: &String| REQUIRED_ORDER.iter().position(|r| r == m);
        self.missing.sort_by_key(rank);
    }

    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.problems.is_empty()
    }

    /// The full text for the operator: problems first, then the help block,
    /// then (when something is missing) the `Currently missing:` line last.
    pub fn render(&self) -> String {
        let mut out = String::from("molecule-mcp cannot start: ");
        out.push_str(if self.problems.is_empty() {
            "required settings are missing.\n\n"
        } else {
            "the configuration has problems.\n\n"
        });
        for problem in &self.problems {
            out.push_str("  - ");
            out.push_str(problem);
            out.push('\n');
        }
        if !self.problems.is_empty() {
            out.push('\n');
        }
        out.push_str(help::REQUIRED);
        if !self.missing.is_empty() {
            out.push_str("\n\nCurrently missing: ");
            out.push_str(&self.missing.join(", "));
        }
        out
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_kept_in_required_order_without_repeats() {
        let mut err = ConfigError::default();
        err.missing("MOLECULE_WORKSPACE_TOKEN");
        err.missing("WORKSPACE_ID");
        err.missing("PLATFORM_URL");
        err.missing("WORKSPACE_ID");
        assert_eq!(err.missing, REQUIRED_ORDER.map(String::from).to_vec());
    }

    #[test]
    fn render_ends_with_the_missing_line() {
        let mut err = ConfigError::default();
        err.missing("PLATFORM_URL");
        err.missing("WORKSPACE_ID");
        let text = err.render();
        assert_eq!(
            text.lines().last(),
            Some("Currently missing: WORKSPACE_ID, PLATFORM_URL")
        );
        assert!(text.contains("Tokens tab"));
        assert!(text.contains("MOLECULE_WORKSPACE_TOKEN_FILE"));
    }

    #[test]
    fn render_puts_problems_before_help_and_omits_empty_missing_line() {
        let mut err = ConfigError::default();
        err.problem("PLATFORM_URL \"ftp://x\" must start with http:// or https://.");
        let text = err.render();
        let problem_at = text.find("PLATFORM_URL \"ftp").unwrap();
        let help_at = text.find(help::REQUIRED).unwrap();
        assert!(problem_at < help_at);
        assert!(!text.contains("Currently missing"));
    }
}
