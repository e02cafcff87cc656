//! The agent card sent at register: how peers and the canvas see this agent.

use serde_json::{json, Map, Value};

use super::env;
use super::{ConfigError, EnvMap};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentCard {
    pub name: String,
    pub description: Option<String>,
    pub skills: Vec<String>,
}

impl AgentCard {
    /// `{"name", "skills": [{"name"}...], "description"?}`; the description
    /// key is present only when one is set.
    pub fn to_json(&self) -> Value {
        let mut card = Map::new();
        card.insert("name".into(), json!(self.name));
        let skills: Vec<Value> = self.skills.iter().map(|s| json!({ "name": s })).collect();
        card.insert("skills".into(), Value::Array(skills));
        if let Some(description) = &self.description {
            card.insert("description".into(), json!(description));
        }
        Value::Object(card)
    }
}

/// The card settings shared by every workspace of this process.
#[derive(Clone, Debug, Default)]
pub struct CardSettings {
    name: Option<String>,
    description: Option<String>,
    skills: Vec<String>,
}

impl CardSettings {
    pub fn from_env(env: &EnvMap, errors: &mut ConfigError) -> Self {
        let skills = env::text(env, "MOLECULE_AGENT_SKILLS", errors)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        CardSettings {
            name: env::text(env, "MOLECULE_AGENT_NAME", errors),
            description: env::text(env, "MOLECULE_AGENT_DESCRIPTION", errors),
            skills,
        }
    }

    /// The card for one workspace; the default name tells workspaces apart.
    pub fn card_for(&self, workspace_id: &str) -> AgentCard {
        let name = self.name.clone().unwrap_or_else(|| {
            let short: String = workspace_id.chars().take(8).collect();
            format!("molecule-mcp-{short}")
        });
        AgentCard {
            name,
            description: self.description.clone(),
            skills: self.skills.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn defaults_to_id_prefix_and_no_description() {
        let mut errors = ConfigError::default();
        let card = CardSettings::from_env(&EnvMap::new(), &mut errors)
            .card_for("00000000-1111-2222-3333-444444444444");
        assert_eq!(card.name, "molecule-mcp-00000000");
        assert_eq!(
            card.to_json(),
            json!({"name": "molecule-mcp-00000000", "skills": []})
        );
        assert!(card.to_json().get("description").is_none());
        assert_eq!(
            CardSettings::default().card_for("abc").name,
            "molecule-mcp-abc"
        );
    }

    #[test]
    fn reads_name_description_and_skills() {
        let mut errors = ConfigError::default();
        let settings = CardSettings::from_env(
            &env(&[
                ("MOLECULE_AGENT_NAME", "  Researcher "),
                ("MOLECULE_AGENT_DESCRIPTION", "finds things"),
                ("MOLECULE_AGENT_SKILLS", " research, ,code-review,, memory "),
            ]),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(
            settings.card_for("ws-1").to_json(),
            json!({
                "name": "Researcher",
                "description": "finds things",
                "skills": [{"name": "research"}, {"name": "code-review"}, {"name": "memory"}]
            })
        );
    }

    #[test]
    fn blank_values_are_unset() {
        let mut errors = ConfigError::default();
        let card = CardSettings::from_env(
            &env(&[
                ("MOLECULE_AGENT_NAME", " "),
                ("MOLECULE_AGENT_DESCRIPTION", "\t"),
                ("MOLECULE_AGENT_SKILLS", " , "),
            ]),
            &mut errors,
        )
        .card_for("12345678abcdef");
        assert_eq!(
            card.to_json(),
            json!({"name": "molecule-mcp-12345678", "skills": []})
        );
    }
}
