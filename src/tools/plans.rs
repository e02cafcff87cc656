//! The goal and task tools: `goal_get`, `goal_set`, `goal_clear`,
//! `task_list`, `task_add`, `task_update`, `task_complete`. Local state,
//! one goal and one task list per workspace (see `plan_file`), nothing on
//! the network. Every change is read-modify-write under one lock and saved
//! before the answer, so an answer that says "saved" survives `kill -9`.

use serde_json::{json, Value};

use super::args::Args;
use super::plan_file::{
    self, Goal, Plan, Task, MAX_GOAL_CHARS, MAX_NEXT_ACTION_CHARS, MAX_TITLE_CHARS, STATUSES,
};
use super::result::{json_value, Fault, Outcome};
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::sync::lock;

pub const CADENCE_MIN: u64 = 300;
pub const CADENCE_DEFAULT: u64 = 3600;
pub const CADENCE_MAX: u64 = 7 * 86_400;
pub const LIST_DEFAULT: u64 = 50;
pub const LIST_MAX: u64 = 500;

/// The goal used while a workspace has none saved yet.
const IDLE_GOAL: &str = "MOLECULE_IDLE_GOAL";

fn refuse(text: impl Into<String>) -> Fault {
    Fault::Tool(text.into())
}

/// Runs `change` on the acting workspace's plan and saves it when
/// `change` says so; answers what `change` returned.
fn with_plan(
    tools: &Toolbox,
    args: &Args,
    save: bool,
    change: impl FnOnce(&mut Plan) -> Result<Value, Fault>,
) -> Outcome {
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, None)?;
    let id = acting.id();
    let path = plan_file::path(&tools.state_dir, id);
    // Poisoning only means another call panicked mid-change: the file on
    // disk is still whole, so carry on.
    let _guard = lock(&tools.plans);
    let mut plan = match plan_file::load(&path, id).map_err(refuse)? {
        Some(plan) => plan,
        None => seeded(tools, id),
    };
    let answer = change(&mut plan)?;
    if save {
        plan_file::save(&path, &plan).map_err(|e| {
            refuse(format!(
                "could not save the goal and task list in {} ({e}); nothing was changed. Free \
                 space or fix the directory's permissions, then retry.",
                tools.state_dir.display()
            ))
        })?;
    }
    Ok(json_value(answer))
}

fn seeded(tools: &Toolbox, workspace_id: &str) -> Plan {
    let mut plan = Plan::empty(workspace_id);
    let seed = tools
        .env
        .get(IDLE_GOAL)
        .map(|v| v.to_string_lossy().trim().to_string())
        .filter(|v| !v.is_empty());
    if let Some(text) = seed {
        plan.goal = Some(Goal {
            text: truncate(&text, MAX_GOAL_CHARS),
            cadence_seconds: CADENCE_DEFAULT,
            set_at: plan_file::now_rfc3339(),
        });
    }
    plan
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A text argument within `max` characters; blank is refused when
/// `required`.
fn text_arg<'a>(args: &Args<'a>, name: &str, max: usize) -> Result<Option<&'a str>, Fault> {
    let Some(text) = args.optional_str(name)? else {
        return Ok(None);
    };
    let chars = text.chars().count();
    if chars > max {
        return Err(refuse(format!(
            "`{name}` is {chars} characters long; at most {max} are kept. Shorten it and \
             retry; nothing was changed."
        )));
    }
    Ok(Some(text))
}

fn required_text<'a>(args: &Args<'a>, name: &str, max: usize) -> Result<&'a str, Fault> {
    text_arg(args, name, max)?
        .ok_or_else(|| refuse(format!("`{name}` must not be empty; nothing was changed.")))
}

fn status_arg<'a>(args: &Args<'a>, name: &str, extra: &[&str]) -> Result<Option<&'a str>, Fault> {
    let Some(status) = args.optional_str(name)? else {
        return Ok(None);
    };
    if STATUSES.contains(&status) || extra.contains(&status) {
        return Ok(Some(status));
    }
    let allowed: Vec<&str> = STATUSES.iter().chain(extra).copied().collect();
    Err(refuse(format!(
        "`{name}` {status:?} is not a task status; use one of: {}.",
        allowed.join(", ")
    )))
}

fn goal_json(goal: &Option<Goal>) -> Value {
    match goal {
        None => json!({"goal": null}),
        Some(g) => json!({
            "goal": g.text,
            "cadence_seconds": g.cadence_seconds,
            "set_at": g.set_at,
        }),
    }
}

fn task_mut<'p>(plan: &'p mut Plan, id: &str) -> Result<&'p mut Task, Fault> {
    plan.tasks.iter_mut().find(|t| t.id == id).ok_or_else(|| {
        refuse(format!(
            "there is no task {id:?} in this workspace; task_list shows the ids. Nothing was \
             changed."
        ))
    })
}

pub fn goal_get(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    with_plan(tools, args, false, |plan| Ok(goal_json(&plan.goal)))
}

pub fn goal_set(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let text = required_text(args, "goal", MAX_GOAL_CHARS)?;
    let cadence = args.number("cadence_seconds", CADENCE_DEFAULT, 0, u64::MAX)?;
    if !(CADENCE_MIN..=CADENCE_MAX).contains(&cadence) {
        return Err(refuse(format!(
            "`cadence_seconds` must be at least {CADENCE_MIN} and at most {CADENCE_MAX}; nothing was \
             changed."
        )));
    }
    with_plan(tools, args, true, |plan| {
        plan.goal = Some(Goal {
            text: text.to_string(),
            cadence_seconds: cadence,
            set_at: plan_file::now_rfc3339(),
        });
        let mut answer = goal_json(&plan.goal);
        answer["saved"] = json!(true);
        Ok(answer)
    })
}

pub fn goal_clear(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    with_plan(tools, args, true, |plan| {
        let had = plan.goal.take().is_some();
        Ok(json!({"goal": null, "cleared": had, "saved": true}))
    })
}

pub fn task_list(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let status = status_arg(args, "status", &["open", "all"])?.unwrap_or("open");
    let limit = args.number("limit", LIST_DEFAULT, 1, LIST_MAX)? as usize;
    with_plan(tools, args, false, |plan| {
        let matching: Vec<&Task> = plan
            .tasks
            .iter()
            .filter(|t| match status {
                "all" => true,
                "open" => t.status != "done",
                s => t.status == s,
            })
            .collect();
        let shown: Vec<&&Task> = matching.iter().take(limit).collect();
        Ok(json!({
            "status": status,
            "total": matching.len(),
            "tasks": shown,
        }))
    })
}

pub fn task_add(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let title = required_text(args, "title", MAX_TITLE_CHARS)?;
    let next_action = text_arg(args, "next_action", MAX_NEXT_ACTION_CHARS)?;
    with_plan(tools, args, true, |plan| {
        if !plan.make_room() {
            return Err(refuse(format!(
                "the task list is full ({} unfinished tasks); complete some first.",
                plan.tasks.len()
            )));
        }
        let now = plan_file::now_rfc3339();
        let task = Task {
            id: plan.new_task_id(),
            title: title.to_string(),
            status: "pending".into(),
            next_action: next_action.map(str::to_string),
            created_at: now.clone(),
            updated_at: now,
        };
        let answer = json!({"task": task, "saved": true});
        plan.tasks.push(task);
        Ok(answer)
    })
}

pub fn task_update(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let id = args.required_id("task_id")?;
    let status = status_arg(args, "status", &[])?;
    // Given but blank clears the next action.
    let next_action = match args.present_str("next_action") {
        Err(_) => None,
        Ok(_) => Some(text_arg(args, "next_action", MAX_NEXT_ACTION_CHARS)?),
    };
    if status.is_none() && next_action.is_none() {
        return Err(refuse(
            "give `status` or `next_action` (or both); nothing was changed.",
        ));
    }
    with_plan(tools, args, true, |plan| {
        let task = task_mut(plan, id)?;
        if let Some(s) = status {
            task.status = s.to_string();
        }
        if let Some(next) = next_action {
            task.next_action = next.map(str::to_string);
        }
        task.updated_at = plan_file::now_rfc3339();
        Ok(json!({"task": task, "saved": true}))
    })
}

pub fn task_complete(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let id = args.required_id("task_id")?;
    with_plan(tools, args, true, |plan| {
        let task = task_mut(plan, id)?;
        task.status = "done".into();
        task.updated_at = plan_file::now_rfc3339();
        Ok(json!({"task": task, "saved": true}))
    })
}
