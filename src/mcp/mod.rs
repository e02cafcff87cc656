//! The MCP server on stdio: JSON-RPC framing, version negotiation, dispatch
//! to a `Handler` on a pool of workers, cancellation and shutdown. What is
//! served (platform tools, upstream tools) lives behind the `Handler`.

pub mod agent;
pub mod cancel;
pub mod context;
pub mod handler;
mod input;
pub mod jsonrpc;
pub mod outbox;
mod pool;
mod router;
pub mod server;
pub mod version;
mod writer;

pub use cancel::{CancelReason, CancelToken};
pub use context::CallContext;
pub use handler::{default_capabilities, Handler};
pub use jsonrpc::RpcError;
pub use outbox::{Outbox, Outgoing};
pub use server::{serve, EndReason, ServeEnd, Server, ServerOptions};
