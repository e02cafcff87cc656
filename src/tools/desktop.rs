//! The `desktop_*` tools: look at and drive the local X desktop through
//! `xdotool`. Offered only when a desktop was found at start (see
//! `desktop_host`). Every argument reaches the program as its own argv
//! entry; nothing passes through a shell.

use serde_json::json;

use super::args::Args;
use super::desktop_host::Desktop;
use super::result::{json_value, text, Fault, Outcome};
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::mcp::jsonrpc::RpcError;

pub const TYPE_MAX_CHARS: usize = 10_000;
pub const DELAY_DEFAULT_MS: u64 = 12;
pub const DELAY_MAX_MS: u64 = 1000;
pub const COORDINATE_MAX: u64 = 100_000;
const URL_MAX_BYTES: usize = 8192;
pub const BUTTONS: [&str; 3] = ["left", "middle", "right"];

fn desktop(tools: &Toolbox) -> Result<&Desktop, Fault> {
    // The tools are listed only with a desktop; this guards a stale list.
    tools.desktop.as_ref().ok_or_else(|| {
        Fault::Tool("no desktop is available (DISPLAY is unset or xdotool is missing)".into())
    })
}

fn refuse(text: impl Into<String>) -> Fault {
    Fault::Tool(text.into())
}

fn xdotool(desktop: &Desktop, action: &str, args: Vec<String>) -> Result<String, Fault> {
    desktop
        .run(&desktop.xdotool, &args)
        .map(|o| o.stdout)
        .map_err(|why| refuse(format!("{action} failed: {why}")))
}

pub fn desktop_status(tools: &Toolbox, _args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let screen = desktop
        .run(&desktop.xdotool, &["getdisplaygeometry".into()])
        .map(|o| {
            o.stdout
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
    let mut status = json!({
        "display": desktop.display,
        "xdotool": desktop.xdotool.display().to_string(),
        "screenshot": desktop.screenshot.as_ref().map(|(p, _)| p.display().to_string()),
        "open_url": desktop.opener.as_ref().map(|p| p.display().to_string()),
    });
    match screen {
        Ok(wh) if wh.len() == 2 => {
            status["reachable"] = json!(true);
            status["width"] = json!(wh[0].parse::<u64>().ok());
            status["height"] = json!(wh[1].parse::<u64>().ok());
        }
        Ok(_) => status["reachable"] = json!(true),
        Err(why) => {
            status["reachable"] = json!(false);
            status["problem"] = json!(why);
        }
    }
    Ok(json_value(status))
}

pub fn desktop_screenshot(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let Some((program, leading)) = &desktop.screenshot else {
        return Err(refuse(
            "desktop_screenshot failed: no screenshot program (maim, scrot or ImageMagick's \
             import) was found on PATH at start. Install one and restart.",
        ));
    };
    let path = match args.optional_str("path")? {
        Some(p) if !p.starts_with('/') => {
            return Err(refuse(format!(
                "`path` {p:?} must be absolute, e.g. /tmp/screen.png"
            )))
        }
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("molecule-screenshot-{}.png", super::uuid::v4())),
    };
    let mut argv: Vec<String> = leading.iter().map(|a| a.to_string()).collect();
    argv.push(path.display().to_string());
    desktop
        .run(program, &argv)
        .map_err(|why| refuse(format!("desktop_screenshot failed: {why}")))?;
    let mut result = text(format!("Screenshot saved to {}.", path.display()));
    result["structuredContent"] = json!({"path": path.display().to_string()});
    Ok(result)
}

pub fn desktop_click(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let x = coordinate(args, "x")?;
    let y = coordinate(args, "y")?;
    let button = match args.optional_str("button")? {
        None => 1,
        Some(b) => match BUTTONS.iter().position(|n| n.eq_ignore_ascii_case(b)) {
            Some(i) => i + 1,
            None => {
                return Err(refuse(format!(
                    "`button` {b:?} is not a mouse button; use left, middle or right"
                )))
            }
        },
    };
    let argv = vec![
        "mousemove".into(),
        x.to_string(),
        y.to_string(),
        "click".into(),
        button.to_string(),
    ];
    xdotool(desktop, "desktop_click", argv)?;
    Ok(text(format!(
        "Clicked {} at ({x}, {y}).",
        BUTTONS[button - 1]
    )))
}

fn coordinate(args: &Args, name: &str) -> Result<u64, Fault> {
    args.optional_number(name, 0, COORDINATE_MAX)?
        .ok_or_else(|| {
            Fault::Caller(RpcError::invalid_params(format!(
                "`{name}` is required (pixels from the top left)"
            )))
        })
}

pub fn desktop_type(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let typed = args.present_str("text")?;
    let chars = typed.chars().count();
    if chars == 0 || chars > TYPE_MAX_CHARS {
        return Err(refuse(format!(
            "`text` must be 1 to {TYPE_MAX_CHARS} characters (it is {chars}); nothing was typed"
        )));
    }
    let delay = args.number("delay_ms", DELAY_DEFAULT_MS, 0, DELAY_MAX_MS)?;
    // `--` ends the options: text starting with `-` is typed, not parsed.
    let argv = vec![
        "type".into(),
        "--delay".into(),
        delay.to_string(),
        "--".into(),
        typed.to_string(),
    ];
    xdotool(desktop, "desktop_type", argv)?;
    Ok(text(format!("Typed {chars} characters.")))
}

pub fn desktop_key(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let keys: Vec<&str> = args.required_str("keys")?.split_whitespace().collect();
    if keys.len() > 32 {
        return Err(refuse("`keys` holds more than 32 key combinations"));
    }
    if let Some(bad) = keys.iter().find(|k| !is_key_name(k)) {
        return Err(refuse(format!(
            "`keys` entry {bad:?} is not a key name; use X key names joined by + (ctrl+c, \
             Return, alt+Tab), separated by spaces"
        )));
    }
    let mut argv = vec!["key".to_string(), "--".to_string()];
    argv.extend(keys.iter().map(|k| k.to_string()));
    xdotool(desktop, "desktop_key", argv)?;
    Ok(text(format!("Pressed {}.", keys.join(" "))))
}

/// `ctrl+shift+t`, `Return`, `F5`, `KP_Enter`: X keysym names joined by `+`.
fn is_key_name(key: &str) -> bool {
    key.len() <= 64
        && key.split('+').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

pub fn desktop_open_url(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let desktop = desktop(tools)?;
    let url = args.required_str("url")?.trim();
    if !is_web_url(url) {
        return Err(refuse(format!(
            "`url` must be an http:// or https:// address without spaces (got {:?})",
            url.chars().take(100).collect::<String>()
        )));
    }
    let Some(opener) = &desktop.opener else {
        return Err(refuse(
            "desktop_open_url failed: xdg-open was not found on PATH at start",
        ));
    };
    desktop
        .run(opener, &[url.to_string()])
        .map_err(|why| refuse(format!("desktop_open_url failed: {why}")))?;
    Ok(text(format!("Opened {url}.")))
}

fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= URL_MAX_BYTES
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        for ok in ["Return", "ctrl+c", "ctrl+shift+t", "KP_Enter", "F5"] {
            assert!(is_key_name(ok), "{ok}");
        }
        for bad in ["", "ctrl+", "+c", "a;b", "$(id)", "ctrl c", "-h"] {
            assert!(!is_key_name(bad), "{bad}");
        }
    }

    #[test]
    fn web_urls_only() {
        for ok in [
            "https://example.com",
            "http://127.0.0.1:8080/a?b=c",
            "HTTPS://X.org",
        ] {
            assert!(is_web_url(ok), "{ok}");
        }
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "https:///x",
            "-https://x",
            "https://a b",
            "https://a\nb",
            "ftp://x",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
