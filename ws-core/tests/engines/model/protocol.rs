//! The protocol the model test drives: rooms with history and presence
//! events, a request, every client message correlated, a rate limit.

use std::time::Duration;

use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::history::{Position, Unrecovered};
use ws_core::{Ctx, HandlerResult, UserId, ws_protocol};

/// The presence events' window.
pub const WINDOW: Duration = Duration::from_millis(200);

/// Messages kept per room: small, so that a burst pushes a cut client out
/// of the window (`too_far_behind`).
pub const HISTORY: u64 = 20;

/// The rate limit's burst: a `burst` op sends more than this at once.
pub const RATE_BURST: u64 = 8;

/// Rooms with history and presence, one request, every message acked.
#[ws_protocol(
    history = 20,
    history_ttl = "5m",
    send_queue = 256,
    heartbeat = "off",
    idle_timeout = "off",
    rate_limit = "20/s",
    rate_burst = 8,
    correlate = "all",
    session = Option<UserId>
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Model {
    /// Join a room, resuming from `since` if given; answered with `joined`
    /// (then the `ack`).
    #[ws(client)]
    Join {
        room: String,
        since: Option<Position>,
    },
    /// The answer to `join`, with who is in the room (the joiner included).
    #[ws(server)]
    Joined {
        room: String,
        epoch: String,
        offset: u64,
        recovered: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<Unrecovered>,
        present: Vec<String>,
    },
    /// Leave a room.
    #[ws(client)]
    Leave { room: String },
    /// To every member of the room, recorded in its history.
    #[ws(client)]
    Say { room: String, text: String },
    /// Who is in a room; answered with `present`.
    #[ws(client, reply = Present)]
    Who { room: String },
    /// The answer to `who`.
    #[ws(server)]
    Present { room: String, users: Vec<String> },
    /// Who came and went, at most once per [`WINDOW`].
    #[ws(server)]
    PresenceDiff {
        room: String,
        joined: Vec<String>,
        left: Vec<String>,
    },
    /// A message in a room.
    #[ws(server, history)]
    Said {
        room: String,
        text: String,
        from: String,
    },
}

pub struct App;

fn names(page: &ws_core::presence::Presence) -> Vec<String> {
    page.users.iter().map(|p| p.user.to_string()).collect()
}

impl ModelHandler for App {
    /// `?user=NAME`, or anonymous.
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        let query = request.uri.query().unwrap_or("");
        Ok(query
            .split('&')
            .find_map(|kv| kv.strip_prefix("user="))
            .map(UserId::from))
    }

    async fn join(&self, ctx: &Ctx<Model>, msg: model::Join) -> HandlerResult {
        let joining = ctx.join_from(&msg.room, msg.since.as_ref()).await?;
        // The baseline before the listing: whatever changes between the two
        // is in the next diff, and applying it to the listing is harmless.
        ctx.manager()
            .presence_events(&msg.room, WINDOW, |diff| model::PresenceDiff {
                room: diff.room.to_string(),
                joined: diff.joined.iter().map(|p| p.user.to_string()).collect(),
                left: diff.left.iter().map(ToString::to_string).collect(),
            })
            .await;
        let page = ctx.presence(&msg.room).await?;
        let resume = joining.resume();
        ctx.send(model::Joined {
            room: msg.room,
            epoch: resume.epoch.to_string(),
            offset: resume.offset,
            recovered: resume.recovered,
            reason: resume.reason,
            present: names(&page),
        })?;
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Model>, msg: model::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Model>, model::Say { room, text }: model::Say) -> HandlerResult {
        let from = match ctx.user() {
            Some(user) => user.to_string(),
            None => format!("#{}", ctx.id()),
        };
        ctx.to_room(&room).send(model::Said {
            room: room.clone(),
            text,
            from,
        })?;
        Ok(())
    }

    async fn who(&self, ctx: &Ctx<Model>, msg: model::Who) -> HandlerResult<model::Present> {
        let page = ctx.presence(&msg.room).await?;
        Ok(model::Present {
            room: msg.room,
            users: names(&page),
        })
    }
}
