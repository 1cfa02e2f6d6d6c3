//! Reconnecting after a drop: the policy, and the client's side of it
//! (what a failed read means, the attempts, the rejoins).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout};

use super::Client;
use super::connect::{Progress, Retried, Retry, Target};
use super::error::ClientError;
use super::event::{ConnectionState, StateChange};
use super::read::Incoming;
use crate::protocol::Protocol;
use crate::wire::close::{CloseInfo, close_code};

/// The close codes after which a client with a [`ReconnectPolicy`]
/// reconnects by default, as the TypeScript client does: 1001 (going away)
/// and 1012 (service restart), which a server sends when it stops or
/// deploys, and 1006 (the connection dropped without a close frame) are
/// retried at once, with jitter; 1011 (internal error), 1013 (try again
/// later) and 1014 (bad gateway) after a longer backoff. Never after
/// [`Client::close`], nor after 1000 (the server meant it), 1008 (policy),
/// 1002, 1003, 1007, 1009 and 1010 (the same traffic would fail again), or
/// an application code 4000-4999: the application decides.
pub const RECONNECT_CODES: [u16; 6] = [1001, 1006, 1011, 1012, 1013, 1014];

/// The default of [`ClientBuilder::idle_timeout`](super::ClientBuilder::idle_timeout): 2.5 times the server's
/// default [`heartbeat`](crate::Config::heartbeat) (30 s), so that one ping
/// lost or late (a busy server, a slow path) is not taken for a dead
/// connection, and a dead one is noticed within about two heartbeats
/// after the last frame; it is also longer than the server's own default
/// idle timeout (60 s), after which a live server would have closed a
/// connection whose pongs stopped.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The codes retried at once (attempt 0): a restart or a drop, not an error.
pub(super) const RETRY_AT_ONCE: [u16; 3] = [1001, 1006, 1012];

/// When and how fast a client reconnects after its connection dropped:
/// exponential backoff with full jitter, capped.
///
/// Attempt `n` (0 first) waits a uniformly random time in
/// `[0, min(max_delay, initial_delay × 2ⁿ))`. A drop by 1001, 1006 or 1012
/// starts at attempt 0; another retried code (1011, 1013, 1014) at attempt
/// 2, so an overloaded server is not asked again at once. Full jitter
/// spreads a crowd that was cut at once (a deploy, a network blip) over the
/// whole window instead of sending it back in one wave. A handshake refused
/// with 5xx, 408 or 429 (e.g. 503 at the server's `max_connections`) is a
/// failed attempt and backs off further; another refusal (401, 403, 404)
/// would fail again, and ends the client.
///
/// ```
/// use std::time::Duration;
/// use ws_core::client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(Some(20));
/// assert_eq!(policy.delay_bound(0), Duration::from_millis(100));
/// assert_eq!(policy.delay_bound(3), Duration::from_millis(800));
/// assert_eq!(policy.delay_bound(10), Duration::from_secs(5));
/// assert!(policy.retries(1012) && !policy.retries(1000));
/// ```
#[derive(Clone)]
pub struct ReconnectPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    pub(super) max_attempts: Option<u32>,
    pub(super) open_timeout: Duration,
    retry: Arc<dyn Fn(u16) -> bool + Send + Sync>,
}

impl Default for ReconnectPolicy {
    /// 500 ms first bound, capped at 30 s, attempts unbounded, 10 s to open,
    /// [`RECONNECT_CODES`] retried: the TypeScript client's defaults.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            open_timeout: Duration::from_secs(10),
            retry: Arc::new(|code| RECONNECT_CODES.contains(&code)),
        }
    }
}

impl fmt::Debug for ReconnectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectPolicy")
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("max_attempts", &self.max_attempts)
            .field("open_timeout", &self.open_timeout)
            .finish_non_exhaustive()
    }
}

/// `pub fn max_delay(mut self, delay: Duration) -> Self`: sets the field of
/// the setter's name.
macro_rules! field_setters {
    ($($(#[$attr:meta])* $field:ident($arg:ident: $ty:ty);)+) => {$(
        $(#[$attr])*
        #[must_use]
        pub fn $field(mut self, $arg: $ty) -> Self {
            self.$field = $arg;
            self
        }
    )+};
}

impl ReconnectPolicy {
    field_setters! {
        /// The bound of the first attempt's delay (default 500 ms).
        initial_delay(delay: Duration);

        /// The cap of the delay bound (default 30 s).
        max_delay(delay: Duration);

        /// Attempts in a row that may fail before the client gives up and is
        /// [`ConnectionState::Closed`]; `None` (the default) never gives up.
        max_attempts(attempts: Option<u32>);

        /// How long an attempt may take to open before it counts as failed
        /// (default 10 s): a handshake a stopping server never answers must not
        /// stall the reconnecting.
        open_timeout(timeout: Duration);
    }

    /// Which close codes are retried (default: those in
    /// [`RECONNECT_CODES`]); a drop without a close frame is 1006.
    #[must_use]
    pub fn retry(mut self, retry: impl Fn(u16) -> bool + Send + Sync + 'static) -> Self {
        self.retry = Arc::new(retry);
        self
    }

    /// Whether a close with `code` is retried.
    pub fn retries(&self, code: u16) -> bool {
        (self.retry)(code)
    }

    /// The bound of attempt `attempt`'s delay: `min(max_delay, initial_delay × 2^attempt)`.
    pub fn delay_bound(&self, attempt: u32) -> Duration {
        self.initial_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max_delay)
    }
}

impl<P: Protocol> Client<P> {
    /// Reports a failed read: `None` when the client reconnects (the drop
    /// is recorded for the next use), else the error to return. With a
    /// policy, a drop that is not retried ends the client with an
    /// [`Event::State`] of [`ConnectionState::Closed`].
    pub(super) fn on_read_error(&mut self, error: ClientError) -> Option<ClientError> {
        let close = match &error {
            ClientError::Closed(info) => info.clone(),
            ClientError::WebSocket(source) => Some(CloseInfo::new(1006, source.to_string())),
            _ => return Some(error),
        };
        let Some(policy) = &self.policy else {
            self.state.send_replace(ConnectionState::Closed);
            return Some(error);
        };
        // Given up, or closed by the server for good: no more attempts.
        if *self.state.borrow() == ConnectionState::Closed {
            return Some(error);
        }
        let code = close.as_ref().map_or(1006, |c| c.code);
        // An expired session is cured by a fresh token, which `get_token`
        // gives: a client that missed its refresh (it was not reading)
        // comes back.
        let expired = code == close_code::SESSION_EXPIRED && self.get_token.is_some();
        if policy.retries(code) || expired {
            self.closed = None;
            self.dropped = Some(close);
            return None;
        }
        self.closed = Some(close.clone());
        self.change(StateChange::new(ConnectionState::Closed, close));
        Some(error)
    }

    /// A send that failed: the connection dropped, or is closed.
    pub(super) fn interrupted(&mut self, error: ClientError) -> ClientError {
        match self.on_read_error(error) {
            Some(error) => error,
            None => ClientError::Interrupted(self.dropped.clone().flatten()),
        }
    }

    /// Records a change of state for [`state`](Self::state) and
    /// [`next_event`](Self::next_event).
    pub(super) fn change(&mut self, change: StateChange) {
        self.state.send_replace(change.state);
        self.buffered.push_back(Incoming::State(change));
    }

    /// Opens the connection again after a drop, backing off by the policy,
    /// and rejoins the rooms. Gives up (the client is closed) after
    /// `max_attempts` failures, or at once when the server refuses this
    /// client for good (a 4xx other than 408 and 429).
    pub(super) async fn reconnect(&mut self) -> Result<(), ClientError> {
        let Some(mut close) = self.dropped.take() else {
            return Ok(());
        };
        let Some(policy) = self.policy.clone() else {
            self.closed = Some(close.clone());
            return Err(ClientError::Closed(close));
        };
        // Answers the server's close frame, if it sent one, so that it need
        // not wait for the answer until its timeout; a dead socket fails at
        // once, and one that does not take the bytes is not waited for.
        // The old socket is replaced only once a new one is open: end it
        // now (FIN), so that the server frees its connection meanwhile.
        let _ = timeout(Duration::from_secs(1), async {
            let _ = self.ws.close(None).await;
            let _ = self.ws.get_mut().shutdown().await;
        })
        .await;
        let code = close.as_ref().map_or(1006, |c| c.code);
        let target = Target {
            url: &self.url,
            headers: &self.headers,
            get_token: self.get_token.as_ref(),
            codec: self.codec,
        };
        let mut progress = Progress {
            state: &self.state,
            events: &mut self.buffered,
            seed: &mut self.seed,
        };
        let from = Retry {
            during: ConnectionState::Reconnecting,
            close: close.take(),
            error: None,
            attempt: if RETRY_AT_ONCE.contains(&code) { 0 } else { 2 },
            failures: 0,
        };
        match target
            .open_retrying::<P>(&policy, from, &mut progress)
            .await
        {
            Retried::Open(ws, handshake) => {
                self.ws = *ws;
                self.handshake = handshake;
                self.closed = None;
                self.ahead = None;
                self.heard = Instant::now();
                self.change(StateChange::new(ConnectionState::Open, None));
                self.rejoin_all().await
            }
            Retried::Refused(refusal) => {
                let why = CloseInfo::new(1006, format!("refused with {}", refusal.status));
                self.closed = Some(Some(why.clone()));
                self.change(StateChange::new(ConnectionState::Closed, Some(why)));
                Err(ClientError::Refused(refusal))
            }
            Retried::GaveUp { close, .. } => {
                self.closed = Some(close.clone());
                self.change(StateChange::new(ConnectionState::Closed, close));
                Ok(())
            }
        }
    }

    /// Sends the rejoin message of every room, from its last position.
    pub(super) async fn rejoin_all(&mut self) -> Result<(), ClientError> {
        let Some(rejoin) = self.rejoin.as_mut() else {
            return Ok(());
        };
        let messages: Vec<P> = self
            .rooms
            .iter()
            .map(|(room, since)| rejoin(room, since.clone()))
            .collect();
        for message in messages {
            let json = serde_json::to_string(&message).map_err(ClientError::Encode)?;
            let frame = self.frame(json)?;
            if let Err(error) = self.ws.send(frame).await {
                // Dropped again before the rejoins went out: the next use
                // reconnects and sends them all again.
                return Err(self.interrupted(error.into()));
            }
        }
        Ok(())
    }
}
