//! Presence from the manager's side: a connection's meta set from outside
//! its handlers, who is in a room (here or across the cluster), and the
//! sampled `joined`/`left`/`updated` events of a room.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Inner, Manager};
use crate::backend::BackendError;
use crate::broadcast::deliver_remote;
use crate::delivery::Target;
use crate::frame::Frame;
use crate::id::ConnId;
use crate::presence::{self, Presence, PresenceDiff, PresenceError};
use crate::protocol::{Outbound, Protocol};

impl<P: Protocol> Manager<P> {
    /// Sets the presence meta of connection `id` of this node, as
    /// [`Ctx::set_presence`](crate::Ctx::set_presence) does from its
    /// handlers: for a status changed elsewhere (an admin, a job).
    /// `Ok(false)` if no such connection is registered here.
    ///
    /// # Errors
    /// As [`Ctx::set_presence`](crate::Ctx::set_presence).
    pub fn set_presence<T: serde::Serialize + ?Sized>(
        &self,
        id: ConnId,
        meta: &T,
    ) -> Result<bool, PresenceError> {
        let registry = &self.inner.registry;
        let json = Arc::from(serde_json::to_string(meta)?);
        let Some(conn) = registry.get(id) else {
            return Ok(false);
        };
        registry.set_presence(&conn, Some(json))?;
        Ok(true)
    }

    /// Who is in `room`: the first [`presence::PAGE`] users by name, each
    /// with its connection count and metas; across the cluster with a
    /// cluster backend. See [`presence`](crate::presence).
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(client)]
    ///     Join { room: String },
    ///     #[ws(server)]
    ///     Here { names: Vec<String> },
    /// }
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Info { status: String }
    ///
    /// struct App;
    /// impl ChatHandler for App {
    ///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
    ///         ctx.set_presence(&Info { status: "online".into() })?;
    ///         ctx.join(&msg.room).await?;
    ///         let page = ctx.presence(&msg.room).await?;
    ///         let names = page
    ///             .users
    ///             .iter()
    ///             .filter(|p| p.info::<Info>().is_some_and(|i| i.status == "online"))
    ///             .map(|p| p.user.to_string())
    ///             .collect();
    ///         ctx.send(chat::Here { names })?;
    ///         Ok(())
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// With a cluster backend, [`BackendError`] when it cannot be asked.
    pub async fn presence(&self, room: &str) -> Result<Presence, BackendError> {
        self.presence_page(room, None, presence::PAGE).await
    }

    /// Up to `limit` (at most [`presence::MAX_PAGE`]) users of `room` whose
    /// name sorts after `after`; see [`Manager::presence`].
    ///
    /// # Errors
    /// As [`Manager::presence`].
    pub async fn presence_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Presence, BackendError> {
        let limit = limit.clamp(1, presence::MAX_PAGE);
        let entries = match self.inner.registry.backend() {
            None => self.inner.registry.presence_page(room, after, limit + 1),
            Some(link) => {
                let here = self.inner.registry.presence_all(room);
                let mut all = link.presence(Arc::from(room), here).await?;
                // Sorted by name already; the cursor and the cap here.
                if let Some(after) = after {
                    all.retain(|(user, ..)| &**user > after);
                }
                all.truncate(limit + 1);
                all
            }
        };
        Ok(presence::page(entries, limit))
    }

    /// Turns on presence events for `room`: every `window`, the room's
    /// members on this node are sent one message, built by `make`, saying
    /// which users joined, which left, and whose metas changed
    /// ([`PresenceDiff::updated`]: a connection set a new meta, or one with
    /// a meta came or went) since the last one; nothing when nothing
    /// changed. `false` (and nothing changes) if they are on already.
    ///
    /// An update carries the user's whole entry now, not Phoenix's leave
    /// and join of the one meta that changed: metas have no identity of
    /// their own here, and a client that replaces the user's entry holds
    /// the right state whatever it missed in between.
    ///
    /// **Debounced.** A user counts as gone only once absent at two
    /// samples in a row, `window` apart: a second tab closing, or a
    /// reconnect shorter than `window`, produces no leave and no join. A
    /// join is announced within `window`, a leave within `2 × window`.
    ///
    /// **Batched.** However many users come and go in a window, each member
    /// gets one message: a room of `N` connections costs at most `N`
    /// messages per window in which something changed, and nothing in a
    /// quiet one (200 clients entering and leaving one by one cost 80,400
    /// messages when each join and leave is sent to every member; here at
    /// most `200 × windows`). Each node samples the room (with a cluster
    /// backend: the cluster's view, two Redis round trips per window, only
    /// while the room has members on this node) and tells its own members,
    /// so nothing more crosses between nodes. A member who arrives learns
    /// who is there with [`Manager::presence`], then follows the events.
    ///
    /// It returns once the baseline is taken (a cluster read with a
    /// cluster backend), if the room has members here: a member told it
    /// joined after this hears of changes from then on. The first window
    /// after the room had no member here (or when it has none at the
    /// call) announces everyone in it, so a user who arrives in that
    /// window is announced to those who came before it in the same window. `make` runs on a
    /// task of its own (spawned here); the message is sent to this node's
    /// members only, not recorded in a history. The task runs until
    /// [`Manager::stop_presence_events`] (or the manager goes); while the
    /// room has no member here a window costs one `O(1)` check.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::presence::PresenceDiff;
    /// use ws_core::{ws_protocol, Manager};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(server)]
    ///     PresenceDiff { room: String, joined: Vec<String>, left: Vec<String> },
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let manager = Manager::<Chat>::new();
    /// let on = manager
    ///     .presence_events("lobby", Duration::from_secs(2), |diff: PresenceDiff| {
    ///         chat::PresenceDiff {
    ///             room: diff.room.to_string(),
    ///             joined: diff.joined.iter().map(|p| p.user.to_string()).collect(),
    ///             left: diff.left.iter().map(|u| u.to_string()).collect(),
    ///         }
    ///     })
    ///     .await;
    /// assert!(on);
    /// assert!(manager.stop_presence_events("lobby"));
    /// # }
    /// ```
    pub async fn presence_events<M, F>(&self, room: &str, window: Duration, make: F) -> bool
    where
        M: Outbound<P>,
        F: Fn(PresenceDiff) -> M + Send + 'static,
    {
        let room: Arc<str> = Arc::from(room);
        let stop = CancellationToken::new();
        {
            let mut tracked = self.inner.tracked.lock();
            if tracked.contains_key(&room) {
                return false;
            }
            tracked.insert(Arc::clone(&room), stop.clone());
        }
        let window = window.max(Duration::from_millis(10));
        let weak = Arc::downgrade(&self.inner);
        // The baseline before returning: whoever is in the room now is no
        // news to a member who was told `joined` after this.
        // With nobody here, the first window announces everyone instead:
        // whoever arrives in it read the presence before the others did.
        let (mut tracker, mut generation) = match sample(&weak, &room).await {
            Sampled::Now(now, generation) => (presence::Tracker::baseline(now), generation),
            _ => (presence::Tracker::default(), None),
        };
        tokio::spawn(async move {
            let start = tokio::time::Instant::now() + window;
            let mut tick = tokio::time::interval_at(start, window);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = match sample(&weak, &room).await {
                    Sampled::Gone => return,
                    Sampled::Empty => {
                        // Nobody here to tell: when someone is, the first
                        // window announces everyone in the room.
                        tracker = presence::Tracker::default();
                        generation = None;
                        continue;
                    }
                    Sampled::Failed => continue,
                    Sampled::Now(now, now_generation) => {
                        // Empty on this node since the last sample, if only
                        // for an instant: whoever came since read the
                        // presence before the others did, as in a first
                        // window, so everyone is announced again.
                        if generation.is_some() && now_generation != generation {
                            tracker = presence::Tracker::default();
                        }
                        generation = now_generation;
                        now
                    }
                };
                let Some(diff) = tracker.sample(&room, now) else {
                    continue;
                };
                let Some(inner) = weak.upgrade() else { return };
                match Frame::<P>::encode(make(diff)) {
                    Ok(frame) => {
                        // This node's members only: every node samples and
                        // tells its own.
                        deliver_remote(
                            &inner.registry,
                            &inner.counters,
                            Target::Room(&room),
                            &frame.wire,
                            &[],
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, %room, "presence events: cannot encode");
                    }
                }
            }
        });
        true
    }

    /// Turns presence events for `room` off; `false` if they were not on.
    pub fn stop_presence_events(&self, room: &str) -> bool {
        match self.inner.tracked.lock().remove(room) {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
        }
    }
}

/// A sample of who is in a room, for its presence events.
enum Sampled {
    /// The manager is gone.
    Gone,
    /// No member on this node: nobody to tell.
    Empty,
    /// The cluster could not be read this time.
    Failed,
    /// Who is in the room, and which life of it on this node this is
    /// ([`Registry::room_generation`](crate::registry::Registry::room_generation)).
    Now(Vec<crate::backend::Entry>, Option<u64>),
}

async fn sample(weak: &Weak<Inner>, room: &Arc<str>) -> Sampled {
    let Some(inner) = weak.upgrade() else {
        return Sampled::Gone;
    };
    let Some(generation) = inner.registry.room_generation(room) else {
        return Sampled::Empty;
    };
    let Some(link) = inner.registry.backend() else {
        return Sampled::Now(inner.registry.presence_all(room), Some(generation));
    };
    let read = link.presence(Arc::clone(room), inner.registry.presence_all(room));
    // Not kept alive by a read that waits on Redis.
    drop(inner);
    match read.await {
        Ok(now) => Sampled::Now(now, Some(generation)),
        Err(error) => {
            tracing::debug!(%error, %room, "presence events: cluster read failed");
            Sampled::Failed
        }
    }
}
