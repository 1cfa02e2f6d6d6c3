//! Engine tests: several nodes in this process sharing a broadcast engine
//! (Redis, in its pub/sub modes), and the model test, which runs the same
//! generated operations against every engine, the local one included.

#[path = "../support/mod.rs"]
mod support;

mod cluster;
mod conformance;
mod failover;
mod history_cluster;
mod membership;
mod model;
mod nats;
mod presence;
mod reconnect;
