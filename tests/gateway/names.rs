//! What the agent sees of upstream names: `prefix` per server (`""` offers
//! tools, prompts and resource URIs under their own names), URIs inside
//! results and prompt messages it can read back, collisions decided by
//! server order, `__` in a server name refused.

use serde_json::json;

use super::support::gateway::*;

#[test]
fn an_empty_prefix_offers_tools_prompts_and_uris_unchanged() {
    let mut gw = Gateway::start("gw-prefix-empty", json!({"conf": full(Some(""))}), &[]);
    assert!(
        gw.wait_tool("test_simple_text", true),
        "{:?}",
        gw.tool_names()
    );
    assert!(gw.tool_names().iter().all(|n| !n.starts_with("conf__")));
    let answer = gw.call("test_simple_text", json!({}));
    assert_eq!(text(&answer), "This is a simple text response for testing.");

    let prompts = gw.request("prompts/list", json!({}));
    assert!(listed(&prompts, "prompts", "name").contains(&"test_simple_prompt".to_string()));
    let resources = gw.request("resources/list", json!({}));
    assert!(listed(&resources, "resources", "uri").contains(&"test://static-text".to_string()));
    let read = gw.request("resources/read", json!({"uri": "test://static-text"}));
    assert_eq!(
        read["result"]["contents"][0]["uri"], "test://static-text",
        "{read}"
    );
    // A URI only a template offers goes to the same server.
    let read = gw.request("resources/read", json!({"uri": "test://template/7/data"}));
    assert_eq!(
        read["result"]["contents"][0]["uri"], "test://template/7/data",
        "{read}"
    );
    // Embedded URIs stay as they are too.
    let answer = gw.call("test_embedded_resource", json!({}));
    assert_eq!(
        answer["result"]["content"][0]["resource"]["uri"],
        "test://embedded-resource"
    );
}

#[test]
fn default_names_are_prefixed_and_embedded_uris_read_back() {
    let mut gw = Gateway::start("gw-prefix-default", json!({"conf": full(None)}), &[]);
    assert!(gw.wait_tool("conf__test_embedded_resource", true));
    let answer = gw.call("conf__test_embedded_resource", json!({}));
    let uri = answer["result"]["content"][0]["resource"]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("no embedded resource in {answer}"))
        .to_string();
    assert_eq!(uri, "molecule://conf/test://embedded-resource");

    let prompt = gw.request(
        "prompts/get",
        json!({"name": "conf__test_prompt_with_embedded_resource",
               "arguments": {"resourceUri": "test://static-text"}}),
    );
    let embedded = &prompt["result"]["messages"][0]["content"]["resource"]["uri"];
    assert_eq!(embedded, "molecule://conf/test://static-text", "{prompt}");
    // What the agent was given, it can read back.
    let read = gw.request("resources/read", json!({"uri": embedded}));
    assert_eq!(
        read["result"]["contents"][0]["text"], "This is the content of the static text resource.",
        "{read}"
    );
    let prompts = gw.request("prompts/list", json!({}));
    assert!(listed(&prompts, "prompts", "name").contains(&"conf__test_simple_prompt".to_string()));
}

#[test]
fn a_name_collision_is_won_by_the_earlier_server_and_the_loser_keeps_its_prefix() {
    // Both offer `test_simple_text` under an empty prefix; "a" comes first.
    let mut gw = Gateway::start(
        "gw-prefix-collision",
        json!({"b": full(Some("")), "a": full(Some(""))}),
        &[],
    );
    assert!(
        gw.wait_tool("b__test_simple_text", true),
        "{:?}",
        gw.tool_names()
    );
    let names = gw.tool_names();
    assert!(names.contains(&"test_simple_text".to_string()), "{names:?}");
    assert!(
        !names.contains(&"a__test_simple_text".to_string()),
        "{names:?}"
    );
    assert!(gw
        .child
        .wait_stderr_contains("has the name of an earlier server's tool", WAIT));
}

#[test]
fn a_server_name_with_a_double_underscore_is_a_configuration_error() {
    let mut gw = Gateway::start(
        "gw-double-underscore",
        json!({"a__b": full(None), "a": full(None)}),
        &[],
    );
    assert!(gw.wait_tool("a__test_simple_text", true));
    assert!(!gw.tool_names().iter().any(|n| n.starts_with("a__b__")));
    assert!(
        gw.child.wait_stderr_contains("rename it", WAIT),
        "{}",
        gw.child.stderr()
    );
}
