//! The chat example's handlers, shared with `ws-bench` (which includes this
//! file and `protocol.rs` by path).

use ws_core::axum::extract::{FromRequestParts, Query};
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::{Ctx, Disconnect, HandlerResult, UserId};

use super::protocol::{Chat, ChatHandler, chat};

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

    async fn on_disconnect(&self, ctx: &Ctx<Chat>, disconnect: &Disconnect) {
        tracing::debug!(conn = %ctx.id(), ?disconnect, "left");
    }
}
