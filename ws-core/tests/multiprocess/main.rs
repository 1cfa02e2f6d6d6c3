//! Multi-process tests: the chat example's binary as an operator runs it,
//! or a server or load in a child process (this binary re-run as one of its
//! ignored tests, see `support::process`), so that a process can be killed,
//! deployed, or measured on its own. Some share a `redis-server`.

#[path = "../support/mod.rs"]
mod support;

mod chat_transports;
mod deploy;
mod drops;
mod exhaustion;
mod history_memory;
mod interop;
mod operating;
mod presence;
mod storm;
