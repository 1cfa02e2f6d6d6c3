//! The chat example's handlers, shared with `ws-bench` (which includes this
//! file and `protocol.rs` by path).

use std::sync::OnceLock;
use std::time::Duration;

use ws_core::axum::extract::{FromRequestParts, Query};
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::{Ctx, Disconnect, HandlerResult, UserId};

use super::protocol::{Chat, ChatHandler, ChatMeta, PresentUser, chat};

/// The window of the rooms' presence events; unset (the default), none are
/// sent.
pub static PRESENCE_EVENTS: OnceLock<Duration> = OnceLock::new();

/// A user of `room` as the chat shows it: typing if one of its
/// connections' metas (on any node) says so for this room.
fn present_user(present: &ws_core::presence::Present, room: &str) -> PresentUser {
    PresentUser {
        user: present.user.to_string(),
        connections: present.connections as u64,
        typing: present
            .metas::<ChatMeta>()
            .iter()
            .any(|meta| meta.typing.iter().any(|r| r == room)),
    }
}

/// The chat's `presence_diff` for a room's presence events.
pub fn presence_diff(diff: ws_core::presence::PresenceDiff) -> chat::PresenceDiff {
    let users = |list: &[ws_core::presence::Present]| {
        list.iter().map(|p| present_user(p, &diff.room)).collect()
    };
    chat::PresenceDiff {
        room: diff.room.to_string(),
        joined: users(&diff.joined),
        left: diff.left.iter().map(ToString::to_string).collect(),
        updated: users(&diff.updated),
    }
}

/// Sets whether this connection is typing in `room`, in its presence meta.
fn set_typing(ctx: &Ctx<Chat>, room: &str, typing: bool) -> HandlerResult {
    let mut meta: ChatMeta = ctx.presence_meta().unwrap_or_default();
    let before = meta.typing.len();
    meta.typing.retain(|r| r != room);
    if typing {
        meta.typing.push(room.to_owned());
    } else if meta.typing.len() == before {
        // Not typing there: nothing changes.
        return Ok(());
    }
    ctx.set_presence(&meta)?;
    Ok(())
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
                .presence_events(&msg.room, *window, presence_diff)
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
        set_typing(ctx, &msg.room, false)
    }

    async fn typing(&self, ctx: &Ctx<Chat>, msg: chat::Typing) -> HandlerResult {
        set_typing(ctx, &msg.room, msg.typing)
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
        let users = page
            .users
            .iter()
            .map(|p| present_user(p, &msg.room))
            .collect();
        Ok(chat::Present {
            room: msg.room,
            users,
        })
    }

    async fn on_disconnect(&self, ctx: &Ctx<Chat>, disconnect: &Disconnect) {
        tracing::debug!(conn = %ctx.id(), ?disconnect, "left");
    }
}
