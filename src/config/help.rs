//! Operator help: the block shown when the configuration is incomplete, and
//! the environment section of `--help`.

/// Shown on stderr before exit 2: what is required and where to get it.
pub const REQUIRED: &str = "\
molecule-mcp connects this agent to a workspace on the Molecule platform.
Set these environment variables in the agent host's MCP server entry:

  WORKSPACE_ID              the workspace's id (shown in the canvas)
  PLATFORM_URL              your platform's base URL, e.g. https://acme.moleculesai.app
  MOLECULE_WORKSPACE_TOKEN  the workspace token; create one in the canvas Tokens tab

To keep the token out of shell history and host config files, write it to a
file and set MOLECULE_WORKSPACE_TOKEN_FILE=/path/to/that/file instead.
For several workspaces at once, set MOLECULE_WORKSPACES (and PLATFORM_URL)
instead: a JSON array of {\"id\", \"token\"} objects.
Run `molecule-mcp --help` for every setting.";

/// Appended to `--help`.
pub const ENVIRONMENT: &str = "\
Environment:
  WORKSPACE_ID                    workspace id (single-workspace mode)
  PLATFORM_URL                    platform base URL, http:// or https://
  MOLECULE_WORKSPACE_TOKEN        workspace token, from the canvas Tokens tab
  MOLECULE_WORKSPACE_TOKEN_FILE   file holding the token, read again before each
                                  request (keeps it out of shell history)
  MOLECULE_WORKSPACES             several workspaces: JSON array of
                                  {\"id\", \"token\", \"platform_url\"?}; WORKSPACE_ID and
                                  the token variables are then ignored
  CONFIGS_DIR                     state directory; default /configs when writable,
                                  else $HOME/.molecule-workspace
  MOLECULE_MCP_SERVERS            upstream MCP servers file (as --servers)
  MOLECULE_MCP_STARTUP_WAIT_SECS  how long the first lists wait for upstreams still
                                  connecting, default 10 (0: no wait)
  MOLECULE_MCP_KEEPALIVE_SECS     idle time before an upstream is pinged, default 180
  MOLECULE_MCP_ATTACHMENT_DIRS    directories send_message_to_user may attach files
                                  from, colon-separated; default: the working
                                  directory and the system temp directory
  MOLECULE_AGENT_NAME             agent card name shown to peers and in the canvas
  MOLECULE_AGENT_DESCRIPTION      agent card description
  MOLECULE_AGENT_SKILLS           agent card skills, comma separated
  MOLECULE_MCP_HEARTBEAT_SECS     heartbeat interval in seconds, default 20
  MOLECULE_MCP_POLL_SECS          inbox poll interval in seconds, default 5
  MOLECULE_MCP_POLL_TIMEOUT_SECS  wait_for_message timeout advised to the agent,
                                  0-60 (0: push only), default 2
  MOLECULE_MCP_DISABLE_HEARTBEAT  any value: no register and no heartbeat
  MOLECULE_MCP_DISABLE_INBOX      any value: no inbox polling
  MOLECULE_MCP_VERBOSE            any value: info-level logs on stderr
  MOLECULE_MAILBOX_DIR            directory for the inbox cursor files (created 0700);
                                  default: the state directory
  MOLECULE_MAILBOX_KERNEL         1/true/yes/on: cursor files in /workspace/.molecule
                                  unless MOLECULE_MAILBOX_DIR is set
  MOLECULE_IDLE_GOAL              goal of a workspace that has none saved yet
  DISPLAY                         with xdotool on PATH: offer the desktop_* tools

Exit codes:
  0  --help, --version, or stdin closed and shutdown finished
  1  doctor found a failing check
  2  configuration missing or invalid (the reason is printed on stderr)
  3  the platform refused the workspace token at register";
