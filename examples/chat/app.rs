//! The chat example's handlers, shared with `ws-bench` (which includes this
//! file and `protocol.rs` by path).

use std::sync::OnceLock;
use std::time::Duration;

use ws_core::axum::extract::{FromRequestParts, Query};
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::{Ctx, Disconnect, HandlerResult, UserId};

use super::protocol::{Chat, ChatHandler, PresentUser, chat};

/// The window of the rooms' presence events; unset (the default), none are
/// sent.
pub static PRESENCE_EVENTS: OnceLock<Duration> = OnceLock::new();

fn present_user(present: &ws_core::presence::Present) -> PresentUser {
    PresentUser {
        user: present.user.to_string(),
        connections: present.connections as u64,
    }
}

/// The chat's handlers. Shared with `ws-bench serve-core` and its benches,
/// so the benchmarks measure exactly this work.
pub struct App;

impl ChatHandler for App {
    async fn authenticate(
        &self,
        request: &mut Parts,
        state: &(),
    ) -> Result<Option<UserId>, Response> {
        // A real server checks a token here (see the `auth` example); the
        // demo trusts `?user=NAME`. The query as pairs, not a struct: the
        // first `user` wins and other parameters are ignored, as a struct's
        // duplicate-field error would not allow.
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let user = pairs
            .into_iter()
            .find(|(key, _)| key == "user")
            .map(|(_, name)| name)
            .filter(|name| !name.is_empty())
            .map(UserId::from);
        Ok(user)
    }

    async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
        let joining = ctx.join_from(&msg.room, msg.since.as_ref()).await?;
        let resume = joining.resume();
        if let Some(window) = PRESENCE_EVENTS.get() {
            // On for the room at its first join on this node (its baseline taken
            // before `joined`); a no-op after.
            ctx.manager()
                .presence_events(&msg.room, *window, |diff| chat::PresenceDiff {
                    room: diff.room.to_string(),
                    joined: diff.joined.iter().map(present_user).collect(),
                    left: diff.left.iter().map(ToString::to_string).collect(),
                })
                .await;
        }
        ctx.send(chat::Joined {
            room: msg.room,
            epoch: resume.epoch.to_string(),
            offset: resume.offset,
            recovered: resume.recovered,
            reason: resume.reason,
        })?;
        // `joining` drops here: the replay, queued after `joined`, begins.
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Chat>, msg: chat::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    /// Into any room, joined or not: the example's documented wire
    /// contract, which `ws-bench` and the tests rely on. A real app refuses
    /// a sender that is not a member, with this one line first:
    ///
    /// ```ignore
    /// if !ctx.rooms().iter().any(|r| **r == *room) { return Err(HandlerError::reply("not_in_room", "join the room first")); }
    /// ```
    async fn say(&self, ctx: &Ctx<Chat>, chat::Say { room, text }: chat::Say) -> HandlerResult {
        let from = match ctx.user() {
            Some(user) => user.to_string(),
            None => format!("#{}", ctx.id()),
        };
        ctx.to_room(&room).send(chat::Said {
            room: room.clone(),
            text,
            from,
        })?;
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Chat>, msg: chat::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }

    async fn count(&self, ctx: &Ctx<Chat>, msg: chat::Count) -> HandlerResult<chat::Members> {
        let count = ctx.manager().room_size(&msg.room) as u64;
        Ok(chat::Members {
            room: msg.room,
            count,
        })
    }

    async fn who(&self, ctx: &Ctx<Chat>, msg: chat::Who) -> HandlerResult<chat::Present> {
        let page = ctx.presence(&msg.room).await?;
        Ok(chat::Present {
            room: msg.room,
            users: page.users.iter().map(present_user).collect(),
        })
    }

    async fn on_disconnect(&self, ctx: &Ctx<Chat>, disconnect: &Disconnect) {
        tracing::debug!(conn = %ctx.id(), ?disconnect, "left");
    }
}
