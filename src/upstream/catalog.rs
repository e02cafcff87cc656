//! What every upstream offers, as the agent sees it: tools under their
//! exposed names, and the last resource, template and prompt lists (reads
//! and prompts themselves go to the server).
//!
//! Drivers write their server's part after each refresh (at connect and on
//! the server's `list_changed`); workers read it to answer every list
//! request and to route a call. A parked server's tools stay
//! here, hidden, so that a call to one of them still finds its server and
//! revives it.

use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::config::ToolFilter;
use super::naming;
use super::oversized::{self, Parsed};

/// More tools than this from one server is a runaway list, not a toolbox:
/// the rest are dropped (and the drop logged) so one server cannot flood
/// the agent's context.
pub const MAX_TOOLS_PER_SERVER: usize = 1000;
/// The same bound for resources, templates and prompts.
pub const MAX_ITEMS_PER_LIST: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The name the agent calls.
    pub exposed: String,
    /// The name the server knows.
    pub upstream: String,
    /// Annotated `readOnlyHint` or `idempotentHint`: safe to run twice.
    pub replayable: bool,
    /// The definition as offered (the server's, renamed), as compact JSON
    /// text: parsed, a definition takes about ten times the memory, and the
    /// catalog keeps every server's tools for as long as it runs.
    definition: Box<str>,
}

impl Tool {
    /// The definition as `tools/list` offers it, unparsed.
    fn text(&self) -> Option<Box<RawValue>> {
        // Written by `tool` from a parsed value: always JSON.
        RawValue::from_string(self.definition.to_string()).ok()
    }

    /// The definition, parsed (to rename it).
    fn definition(&self) -> Value {
        match oversized::parse(self.definition.as_bytes()) {
            Parsed::Json(definition) => definition,
            // Written by `tool` from a parsed value: never the case.
            Parsed::TooDeep { .. } | Parsed::NotJson => Value::Null,
        }
    }
}

/// The lists besides tools whose changes are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Resources,
    Templates,
    Prompts,
}

#[derive(Debug, Default)]
struct Server {
    name: String,
    /// What starts the names of its tools and prompts (`<name>__` unless
    /// configured).
    prefix: String,
    /// The server is parked: its tools are out of `tools/list`.
    hidden: bool,
    tools: Vec<Tool>,
    /// Some list of the server's has been read since start.
    listed: bool,
    resources: Vec<Value>,
    templates: Vec<Value>,
    prompts: Vec<Value>,
}

impl Server {
    fn list(&self, kind: ListKind) -> &Vec<Value> {
        match kind {
            ListKind::Resources => &self.resources,
            ListKind::Templates => &self.templates,
            ListKind::Prompts => &self.prompts,
        }
    }

    fn list_mut(&mut self, kind: ListKind) -> &mut Vec<Value> {
        match kind {
            ListKind::Resources => &mut self.resources,
            ListKind::Templates => &mut self.templates,
            ListKind::Prompts => &mut self.prompts,
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    servers: Vec<Server>,
    /// Collisions already logged, as (server, tool): each is logged once.
    collisions: Vec<(usize, String)>,
}

impl Catalog {
    /// One (empty) part per server, in the order of their indexes, each
    /// with the default prefix.
    pub fn new(names: &[String]) -> Self {
        let pairs: Vec<(String, String)> = names
            .iter()
            .map(|name| (name.clone(), naming::prefix(name)))
            .collect();
        Catalog::with_prefixes(&pairs)
    }

    /// One (empty) part per (name, prefix), in the order of their indexes.
    pub fn with_prefixes(servers: &[(String, String)]) -> Self {
        Catalog {
            servers: servers
                .iter()
                .map(|(name, prefix)| Server {
                    name: name.clone(),
                    prefix: prefix.clone(),
                    ..Server::default()
                })
                .collect(),
            collisions: Vec::new(),
        }
    }

    /// Replaces a server's tools with `listed` (a `tools/list` result's
    /// `tools`), keeping only well-formed tools the filter allows. Returns
    /// whether what the agent sees changed.
    pub fn set_tools(&mut self, server: usize, listed: Vec<Value>, filter: &ToolFilter) -> bool {
        let Some(name) = self.servers.get(server).map(|s| s.name.clone()) else {
            return false;
        };
        let mut tools: Vec<Tool> = Vec::new();
        for raw in listed {
            if tools.len() == MAX_TOOLS_PER_SERVER {
                log::warn!(
                    "upstream {name}: offers more than {MAX_TOOLS_PER_SERVER} tools; the rest are left out"
                );
                break;
            }
            let Some(tool) = tool(raw) else {
                log::debug!("upstream {name}: skipped a tool without a usable name");
                continue;
            };
            if !filter.allows(&tool.upstream) || tools.iter().any(|t| t.upstream == tool.upstream) {
                continue;
            }
            tools.push(tool);
        }
        let before = self.listing();
        self.servers[server].listed = true;
        self.servers[server].tools = tools;
        self.rename();
        self.listing() != before
    }

    /// What `tools/list` offers, as text: compared without parsing.
    fn listing(&self) -> Vec<Box<str>> {
        self.servers
            .iter()
            .filter(|s| !s.hidden)
            .flat_map(|s| s.tools.iter().map(|t| t.definition.clone()))
            .collect()
    }

    /// Gives every tool its exposed name, server by server in index order,
    /// so the same configuration always gives the same names whatever order
    /// the servers came up in. A name already taken by an earlier server
    /// falls back to `<server>__<tool>` (a server with its own prefix keeps
    /// the default one), then to the hashed form.
    fn rename(&mut self) {
        let mut taken: Vec<String> = Vec::new();
        let mut collided = Vec::new();
        for (index, server) in self.servers.iter_mut().enumerate() {
            for tool in &mut server.tools {
                let mut exposed = naming::with_prefix(&server.prefix, &server.name, &tool.upstream);
                if taken.contains(&exposed) {
                    collided.push((index, tool.upstream.clone()));
                    exposed = naming::exposed(&server.name, &tool.upstream);
                    if taken.contains(&exposed) {
                        exposed = naming::disambiguated(&server.name, &tool.upstream);
                    }
                }
                if tool.exposed != exposed {
                    set_name(tool, &exposed);
                    tool.exposed = exposed.clone();
                }
                taken.push(exposed);
            }
        }
        for (index, upstream) in collided {
            if !self.collisions.contains(&(index, upstream.clone())) {
                let server = &self.servers[index];
                let shown = server
                    .tools
                    .iter()
                    .find(|t| t.upstream == upstream)
                    .map_or("", |t| t.exposed.as_str());
                log::warn!(
                    "upstream {}: tool {upstream:.100} has the name of an earlier server's tool; \
                     offered as {shown}",
                    server.name
                );
                self.collisions.push((index, upstream));
            }
        }
    }

    /// Hides or shows a server's tools; returns whether `tools/list`
    /// changed.
    pub fn set_hidden(&mut self, server: usize, hidden: bool) -> bool {
        match self.servers.get_mut(server) {
            Some(entry) if entry.hidden != hidden => {
                entry.hidden = hidden;
                !entry.tools.is_empty()
            }
            _ => false,
        }
    }

    /// Replaces one of a server's other lists; returns whether it changed.
    pub fn set_list(&mut self, server: usize, kind: ListKind, mut items: Vec<Value>) -> bool {
        let Some(entry) = self.servers.get_mut(server) else {
            return false;
        };
        items.truncate(MAX_ITEMS_PER_LIST);
        entry.listed = true;
        let list = entry.list_mut(kind);
        let changed = *list != items;
        *list = items;
        changed
    }

    /// The last list of `kind` of every visible server, each item with its
    /// server's index, as the server offered it (renamed by the caller).
    pub fn items(&self, kind: ListKind) -> Vec<(usize, Value)> {
        self.servers
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.hidden)
            .flat_map(|(index, s)| s.list(kind).iter().map(move |item| (index, item.clone())))
            .collect()
    }

    /// The visible tools, server by server, as `tools/list` offers them.
    pub fn tools(&self) -> Vec<Box<RawValue>> {
        self.servers
            .iter()
            .filter(|s| !s.hidden)
            .flat_map(|s| s.tools.iter().filter_map(Tool::text))
            .collect()
    }

    /// The server index and tool behind an exposed name, hidden ones
    /// included.
    pub fn find_tool(&self, exposed: &str) -> Option<(usize, &Tool)> {
        self.servers.iter().enumerate().find_map(|(index, s)| {
            s.tools
                .iter()
                .find(|t| t.exposed == exposed)
                .map(|t| (index, t))
        })
    }

    /// The server index and upstream name behind an exposed prompt name,
    /// from the last prompt lists.
    pub fn find_prompt(&self, exposed: &str) -> Option<(usize, String)> {
        self.servers.iter().enumerate().find_map(|(index, s)| {
            s.prompts
                .iter()
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .find(|name| naming::with_prefix(&s.prefix, &s.name, name) == exposed)
                .map(|name| (index, name.to_string()))
        })
    }

    /// Which of `servers` listed `uri` as a resource last time.
    pub fn find_resource(&self, uri: &str, servers: &[usize]) -> Option<usize> {
        servers.iter().copied().find(|&index| {
            self.servers.get(index).is_some_and(|s| {
                s.resources
                    .iter()
                    .any(|r| r.get("uri").and_then(Value::as_str) == Some(uri))
            })
        })
    }

    /// Whether some list of the server's has been read since start.
    pub fn has_listed(&self, server: usize) -> bool {
        self.servers.get(server).is_some_and(|s| s.listed)
    }

    /// How many tools a server has (hidden or not).
    pub fn tool_count(&self, server: usize) -> usize {
        self.servers.get(server).map_or(0, |s| s.tools.len())
    }
}

/// A `tools/list` entry, to be named for the agent by
/// [`Catalog::rename`]; `None` without a name.
fn tool(raw: Value) -> Option<Tool> {
    let Value::Object(mut definition) = raw else {
        return None;
    };
    let upstream = definition.get("name")?.as_str()?.to_string();
    if upstream.is_empty() {
        return None;
    }
    let hint = |key: &str| {
        definition
            .get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let replayable = hint("readOnlyHint") || hint("idempotentHint");
    // Hosts refuse a tool without a schema; an empty object schema says
    // "no arguments" without guessing more.
    if !definition.get("inputSchema").is_some_and(Value::is_object) {
        definition.insert("inputSchema".into(), json!({"type": "object"}));
    }
    Some(Tool {
        replayable,
        exposed: String::new(),
        upstream,
        definition: Value::Object(definition).to_string().into(),
    })
}

fn set_name(tool: &mut Tool, name: &str) {
    if let Value::Object(mut object) = tool.definition() {
        object.insert("name".into(), Value::String(name.into()));
        tool.definition = Value::Object(object).to_string().into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(&["files".into(), "search".into()])
    }

    fn all() -> ToolFilter {
        ToolFilter::default()
    }

    /// What `tools/list` offers, parsed back (as deep as carried).
    fn offered(c: &Catalog) -> Vec<Value> {
        c.tools()
            .iter()
            .map(|t| match oversized::parse(t.get().as_bytes()) {
                Parsed::Json(definition) => definition,
                Parsed::TooDeep { depth } => panic!("{depth} levels deep"),
                Parsed::NotJson => panic!("not JSON: {}", t.get()),
            })
            .collect()
    }

    #[test]
    fn tools_are_renamed_and_keep_everything_else() {
        let mut c = catalog();
        let listed = [json!({
            "name": "read",
            "description": "Reads a file",
            "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
            "outputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": true},
            "title": "Read"
        })];
        assert!(c.set_tools(0, listed.to_vec(), &all()));
        let tools = offered(&c);
        assert_eq!(tools.len(), 1);
        let mut expected = listed[0].clone();
        expected["name"] = json!("files__read");
        assert_eq!(tools[0], expected);
        let (server, tool) = c.find_tool("files__read").expect("found");
        assert_eq!(
            (server, tool.upstream.as_str(), tool.replayable),
            (0, "read", true)
        );
        assert!(
            !c.set_tools(0, listed.to_vec(), &all()),
            "same list: no change"
        );
    }

    #[test]
    fn a_schema_deeper_than_serde_jsons_default_limit_is_offered_whole() {
        let mut schema = json!({"type": "string"});
        for _ in 0..300 {
            schema = json!({"type": "array", "items": schema});
        }
        let mut c = catalog();
        let listed = [json!({"name": "deep", "inputSchema": schema})];
        assert!(c.set_tools(0, listed.to_vec(), &all()));
        let tools = offered(&c);
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0]["name"], "files__deep");
        assert_eq!(tools[0]["inputSchema"], listed[0]["inputSchema"]);
    }

    #[test]
    fn malformed_tools_are_skipped_and_schemas_filled_in() {
        let mut c = catalog();
        let listed = [
            json!("garbage"),
            json!({"description": "no name"}),
            json!({"name": ""}),
            json!({"name": 7}),
            json!({"name": "ok", "annotations": {"idempotentHint": true}}),
            json!({"name": "ok", "description": "a duplicate"}),
        ];
        c.set_tools(1, listed.to_vec(), &all());
        let tools = offered(&c);
        assert_eq!(tools.len(), 1, "{tools:?}");
        assert_eq!(tools[0]["inputSchema"], json!({"type": "object"}));
        assert!(c.find_tool("search__ok").expect("found").1.replayable);
    }

    #[test]
    fn the_filter_applies_to_upstream_names() {
        let mut c = catalog();
        let listed = [
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let only_b = ToolFilter {
            include: Some(vec!["b".into()]),
            exclude: vec!["b".into()],
        };
        c.set_tools(0, listed.to_vec(), &only_b);
        assert_eq!(offered(&c).len(), 1);
        assert!(c.find_tool("files__b").is_some());
        let not_a = ToolFilter {
            include: None,
            exclude: vec!["a".into()],
        };
        c.set_tools(0, listed.to_vec(), &not_a);
        let names: Vec<Value> = offered(&c).iter().map(|t| t["name"].clone()).collect();
        assert_eq!(names, [json!("files__b"), json!("files__c")]);
    }

    #[test]
    fn hidden_tools_leave_the_list_but_still_route() {
        let mut c = catalog();
        c.set_tools(0, vec![json!({"name": "read"})], &all());
        c.set_tools(1, vec![json!({"name": "find"})], &all());
        assert!(c.set_hidden(0, true));
        assert!(!c.set_hidden(0, true), "hidden once");
        let names: Vec<Value> = offered(&c).iter().map(|t| t["name"].clone()).collect();
        assert_eq!(names, [json!("search__find")]);
        assert_eq!(c.find_tool("files__read").map(|(i, _)| i), Some(0));
        // A refresh while hidden changes nothing the agent sees.
        assert!(!c.set_tools(0, vec![json!({"name": "write"})], &all()));
        assert!(c.set_hidden(0, false));
        assert_eq!(offered(&c).len(), 2);
        assert!(
            !Catalog::new(&["x".into()]).set_hidden(0, true),
            "no tools: no change"
        );
    }

    #[test]
    fn colliding_names_get_distinct_stable_names() {
        let mut c = Catalog::new(&["a__b".into(), "a".into()]);
        c.set_tools(0, vec![json!({"name": "c"})], &all());
        c.set_tools(1, vec![json!({"name": "b__c"})], &all());
        let names: Vec<String> = offered(&c)
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect();
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);
        assert_eq!(
            c.find_tool(&names[1]).map(|(i, t)| (i, t.upstream.clone())),
            Some((1, "b__c".into()))
        );
    }

    fn names(c: &Catalog) -> Vec<String> {
        offered(c)
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect()
    }

    #[test]
    fn an_empty_prefix_offers_the_servers_own_names() {
        let mut c = Catalog::with_prefixes(&[("files".into(), "".into())]);
        c.set_tools(0, vec![json!({"name": "read"})], &all());
        assert_eq!(names(&c), ["read"]);
        assert_eq!(
            c.find_tool("read").map(|(i, t)| (i, t.upstream.clone())),
            Some((0, "read".into()))
        );
    }

    #[test]
    fn a_collision_goes_to_the_earlier_server_whatever_the_start_up_order() {
        let servers = [
            ("one".to_string(), String::new()),
            ("two".to_string(), String::new()),
        ];
        for order in [[0, 1], [1, 0]] {
            let mut c = Catalog::with_prefixes(&servers);
            for server in order {
                c.set_tools(server, vec![json!({"name": "read"})], &all());
            }
            assert_eq!(names(&c), ["read", "two__read"], "order {order:?}");
            assert_eq!(c.find_tool("read").map(|(i, _)| i), Some(0));
            assert_eq!(c.find_tool("two__read").map(|(i, _)| i), Some(1));
        }
    }

    #[test]
    fn a_runaway_list_is_cut() {
        let mut c = catalog();
        let listed: Vec<Value> = (0..MAX_TOOLS_PER_SERVER + 50)
            .map(|i| json!({"name": format!("t{i}")}))
            .collect();
        c.set_tools(0, listed.to_vec(), &all());
        assert_eq!(c.tool_count(0), MAX_TOOLS_PER_SERVER);
    }

    #[test]
    fn other_lists_report_changes() {
        let mut c = catalog();
        assert!(!c.set_list(0, ListKind::Prompts, vec![]));
        assert!(c.set_list(0, ListKind::Prompts, vec![json!({"name": "p"})]));
        assert!(!c.set_list(0, ListKind::Prompts, vec![json!({"name": "p"})]));
        assert!(
            !c.set_list(5, ListKind::Resources, vec![json!(1)]),
            "no such server"
        );
    }

    #[test]
    fn prompts_are_found_by_their_exposed_name() {
        let mut c = catalog();
        c.set_list(
            1,
            ListKind::Prompts,
            vec![json!({"name": "sum up"}), json!({"x": 1})],
        );
        assert_eq!(c.find_prompt("search__sum_up"), Some((1, "sum up".into())));
        assert_eq!(c.find_prompt("files__sum_up"), None);
    }

    #[test]
    fn unknown_servers_are_ignored() {
        let mut c = catalog();
        assert!(!c.set_tools(9, vec![json!({"name": "x"})], &all()));
        assert!(!c.set_hidden(9, true));
        assert_eq!(c.tool_count(9), 0);
    }
}
