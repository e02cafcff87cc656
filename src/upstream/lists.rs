//! What a list refresh read from one server, and how it enters the
//! catalog.

use std::sync::RwLock;

use serde_json::Value;

use super::catalog::{Catalog, ListKind};
use super::config::ToolFilter;
use crate::mcp::outbox::Outbox;
use crate::sync::{read, write};

/// What a refresh found; `None` for a list the server does not offer (or
/// an optional one it failed to answer: the previous contents stand).
#[derive(Debug, Default)]
pub struct Lists {
    pub tools: Option<Vec<Value>>,
    pub resources: Option<Vec<Value>>,
    pub templates: Option<Vec<Value>>,
    pub prompts: Option<Vec<Value>>,
}

impl Lists {
    /// Puts the lists into the catalog as server `index`'s. Returns the
    /// `list_changed` notifications due and the server's tool count.
    pub(crate) fn apply(
        self,
        catalog: &mut Catalog,
        index: usize,
        filter: &ToolFilter,
    ) -> (Vec<&'static str>, usize) {
        let mut changed = Vec::new();
        if self
            .tools
            .is_some_and(|t| catalog.set_tools(index, t, filter))
        {
            changed.push("notifications/tools/list_changed");
        }
        let mut resources = false;
        if let Some(list) = self.resources {
            resources |= catalog.set_list(index, ListKind::Resources, list);
        }
        if let Some(list) = self.templates {
            resources |= catalog.set_list(index, ListKind::Templates, list);
        }
        if resources {
            changed.push("notifications/resources/list_changed");
        }
        if self
            .prompts
            .is_some_and(|list| catalog.set_list(index, ListKind::Prompts, list))
        {
            changed.push("notifications/prompts/list_changed");
        }
        (changed, catalog.tool_count(index))
    }
}

/// Puts `lists` into the shared catalog as server `index`'s and tells the
/// agent which lists changed; returns the server's tool count.
pub(crate) fn apply(
    lists: Lists,
    catalog: &RwLock<Catalog>,
    index: usize,
    filter: &ToolFilter,
    outbox: &Outbox,
) -> usize {
    let (changed, tools) = lists.apply(&mut write(catalog), index, filter);
    for method in changed {
        outbox.notify(method, Value::Null);
    }
    tools
}

/// Takes server `index`'s tools out of `tools/list` (or back in), telling
/// the agent when that changed the list.
pub(crate) fn hide(catalog: &RwLock<Catalog>, index: usize, hidden: bool, outbox: &Outbox) {
    if write(catalog).set_hidden(index, hidden) {
        outbox.notify("notifications/tools/list_changed", Value::Null);
    }
}

pub(crate) fn tool_count(catalog: &RwLock<Catalog>, index: usize) -> usize {
    read(catalog).tool_count(index)
}
