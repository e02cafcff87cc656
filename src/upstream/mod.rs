//! The gateway: upstream MCP servers behind breakers.
pub mod config;
pub mod error;
mod event_queue;
pub mod http;
mod http_exchange;
mod http_failure;
mod jsonrpc_client;
mod origin;
pub mod orphans;
pub(crate) mod oversized;
mod process_group;
mod rate_limit;
pub mod session;
mod sse;
mod stderr_tail;
mod stdin_writer;
pub mod stdio;
mod stdout_reader;

// The driver side: breakers, sessions, aggregation.
pub mod agent_setup;
mod call;
pub mod catalog;
pub mod checkup;
mod closers;
pub mod driver;
mod driver_sessions;
mod driver_settings;
mod fault;
pub mod gateway;
mod helper_threads;
pub mod lease;
mod lists;
pub mod naming;
pub mod notices;
pub mod progress;
mod state_log;
mod texts;
