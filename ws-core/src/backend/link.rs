//! The runtime's handle on the engine, and the engine's tasks to start once
//! the manager exists. Without an engine's cargo feature there is no engine,
//! so no link: [`Link`] is then an empty enum, and every path that would use
//! one is as dead to the compiler as it is at run time.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{BackendError, BackendStatus, Channel, Entry};
use crate::delivery::Target;
use crate::wire::Wire;

#[cfg(feature = "engine")]
use super::{Engine, Local, Node, Read};

/// The registry's, the broadcasts' and the manager's handle on the engine:
/// see [`Engine`] for what each call promises.
#[cfg(feature = "engine")]
pub(crate) struct Link {
    engine: Box<dyn Engine>,
}

/// No engine compiled in: no link can exist.
#[cfg(not(feature = "engine"))]
pub(crate) enum Link {}

#[cfg(feature = "engine")]
impl Link {
    pub(crate) fn new(engine: Box<dyn Engine>) -> Self {
        Self { engine }
    }

    /// See [`Engine::changed`].
    pub(crate) fn changed(&self, channel: Channel) {
        self.engine.changed(channel);
    }

    /// Hands an encoded frame to the engine, for the other nodes' members
    /// of `target` (a connection is this node's alone); see
    /// [`Engine::publish`].
    pub(crate) fn publish(
        &self,
        target: Target<'_>,
        wire: &Wire,
        except_rooms: &[&str],
    ) -> Result<(), BackendError> {
        let channel = match target {
            Target::Room(room) => Channel::Room(Arc::from(room)),
            Target::User(user) => Channel::User(Arc::from(user)),
            Target::All => Channel::All,
            Target::Conn(_) => return Ok(()),
        };
        self.engine.publish(channel, wire, except_rooms)
    }

    pub(crate) fn status(&self) -> BackendStatus {
        self.engine.status()
    }

    /// See [`Engine::count`].
    pub(crate) fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>> {
        self.engine.count(channel, here)
    }

    /// See [`Engine::presence`].
    pub(crate) fn presence(
        &self,
        room: Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>> {
        self.engine.presence(room, here)
    }

    /// See [`Engine::close`].
    pub(crate) fn close(&self) -> BoxFuture<'static, ()> {
        self.engine.close()
    }

    /// Whether the rooms' histories live in the engine.
    pub(crate) fn keeps_history(&self) -> bool {
        self.engine.keeps_history()
    }

    /// Whether the engine keeps the rooms' histories, and is up: a
    /// recorded message goes through [`Link::record`] then.
    pub(crate) fn records(&self) -> bool {
        self.engine.keeps_history() && self.engine.is_up()
    }

    /// [`Link::records`], once the engine is up or `wait` has passed: a
    /// connection that dropped and is being replaced (a blip) is back
    /// within milliseconds.
    pub(crate) async fn records_within(&self, wait: std::time::Duration) -> bool {
        let keeps = self.engine.keeps_history();
        let deadline = tokio::time::Instant::now() + wait;
        while keeps && !self.engine.is_up() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        keeps
    }

    /// See [`Engine::record`].
    pub(crate) fn record(&self, room: &str, body: Wire) -> Result<(), BackendError> {
        self.engine.record(room, body)
    }

    /// See [`Engine::read`].
    pub(crate) fn read(
        &self,
        room: &str,
        since: Option<(String, u64)>,
        max: usize,
    ) -> BoxFuture<'static, Result<Read, BackendError>> {
        self.engine.read(Arc::from(room), since, max)
    }
}

/// The calls the runtime makes whether or not an engine is compiled in;
/// none can be reached.
#[cfg(not(feature = "engine"))]
impl Link {
    pub(crate) fn changed(&self, _: Channel) {
        match *self {}
    }

    pub(crate) fn publish(&self, _: Target<'_>, _: &Wire, _: &[&str]) -> Result<(), BackendError> {
        match *self {}
    }

    pub(crate) fn status(&self) -> BackendStatus {
        match *self {}
    }

    pub(crate) fn count(
        &self,
        _: Channel,
        _: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>> {
        match *self {}
    }

    pub(crate) fn presence(
        &self,
        _: Arc<str>,
        _: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>> {
        match *self {}
    }

    pub(crate) fn close(&self) -> BoxFuture<'static, ()> {
        match *self {}
    }
}

/// An engine's tasks, to start once the manager exists: they hold it, as
/// their [`Node`], weakly.
#[must_use = "the engine does nothing until its tasks are spawned"]
pub(crate) struct Tasks {
    #[cfg(feature = "engine")]
    spawn: Option<Box<dyn FnOnce(Local) + Send>>,
}

impl Tasks {
    /// No engine: nothing to start.
    pub(crate) fn none() -> Self {
        Self {
            #[cfg(feature = "engine")]
            spawn: None,
        }
    }

    #[cfg(feature = "engine")]
    pub(crate) fn new(spawn: Box<dyn FnOnce(Local) + Send>) -> Self {
        Self { spawn: Some(spawn) }
    }

    /// Starts the tasks, which call up into `node`; call it inside a Tokio
    /// runtime.
    #[cfg(feature = "engine")]
    pub(crate) fn spawn<N: Node + 'static>(self, node: &Arc<N>) {
        if let Some(spawn) = self.spawn {
            let node: std::sync::Weak<N> = Arc::downgrade(node);
            spawn(Local::new(node));
        }
    }

    /// Starts the tasks: without an engine there are none.
    #[cfg(not(feature = "engine"))]
    pub(crate) fn spawn<N>(self, _node: &Arc<N>) {}
}
