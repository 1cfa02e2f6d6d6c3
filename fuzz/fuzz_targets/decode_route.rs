//! Fuzzes the per-message path of the read loop: decode the JSON, check its
//! direction, route it to the handler, apply the outcome. Each input runs
//! against a fresh manager with two socket-less connections in `lobby`, and
//! must end in the outcome serde's verdict on the protocol enum calls for
//! (refused, or the handler's effect), with the registry consistent after
//! it and empty once the connections go.
//!
//! ```text
//! cargo install cargo-fuzz
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_route corpus/decode_route seeds/decode_route \
//!     -- -dict=json.dict -max_total_time=60
//! ```
//! (`RUSTC_BOOTSTRAP=1` lets the stable toolchain take the sanitizer flags.
//! New inputs go to the ignored `corpus/`; `seeds/` is the committed start.)

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ws_core::bench::{Detached, decode_and_route};
use ws_core::{Ctx, HandlerError, HandlerResult, Manager, UserId, ws_protocol};

#[ws_protocol(send_queue = 64, on_full = "drop_oldest", session = Option<UserId>)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fuzz {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    Leave { room: String },
    #[ws(client)]
    Say {
        room: String,
        text: String,
        n: Option<i64>,
        tags: Vec<String>,
    },
    #[ws(client)]
    Login { user: Option<String> },
    #[ws(client)]
    Refuse { close: bool },
    #[ws(client, server)]
    Echo { text: String },
    #[ws(server)]
    Said { room: String, text: String },
}

struct App;

impl FuzzHandler for App {
    // Never called: the connections are socket-less, anonymous at first.
    async fn authenticate(
        &self,
        _: &mut ws_core::axum::http::request::Parts,
        _: &(),
    ) -> Result<Option<UserId>, ws_core::axum::response::Response> {
        Ok(None)
    }

    async fn join(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Join) -> HandlerResult {
        ctx.join(&msg.room).await?;
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Say) -> HandlerResult {
        ctx.to_room(&msg.room).send(fuzz::Said {
            room: msg.room.clone(),
            text: msg.text,
        })?;
        Ok(())
    }

    async fn login(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Login) -> HandlerResult {
        ctx.set_session(msg.user.map(UserId::from))?;
        Ok(())
    }

    async fn refuse(&self, _ctx: &Ctx<Fuzz>, msg: fuzz::Refuse) -> HandlerResult {
        if msg.close {
            return Err(HandlerError::close(4000, "refused"));
        }
        Err(HandlerError::reply("refused", "no"))
    }

    async fn echo(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A fresh harness per input: no room or user carried over.
    let manager = Manager::<Fuzz>::new();
    let conns = Detached::join(&manager, "lobby", 2);
    let result = RUNTIME.block_on(decode_and_route(&conns.ctx(0), &App, text));
    let queued = conns.drain();
    let in_lobby = |room: &str| usize::from(room == "lobby");

    match serde_json::from_str::<Fuzz>(text) {
        Err(_) | Ok(Fuzz::Said { .. }) => {
            assert!(result.is_err(), "accepted {text:?}");
            assert_eq!(queued, 0, "a refused message had an effect");
        }
        Ok(message) => {
            match message {
                Fuzz::Join { room } => {
                    result.unwrap();
                    // Joined, or refused with one error frame (a bad room name).
                    let joined = manager.room_size(&room) == 1 + in_lobby(&room);
                    assert!(joined != (queued == 1), "join {room:?}: queued {queued}");
                }
                Fuzz::Leave { room } => {
                    result.unwrap();
                    assert_eq!(queued, 0);
                    assert_eq!(manager.room_size("lobby"), 2 - in_lobby(&room));
                }
                Fuzz::Say { room, .. } => {
                    result.unwrap();
                    // Both lobby members, or nobody (an empty room).
                    assert_eq!(queued, 2 * in_lobby(&room), "say to {room:?}");
                }
                Fuzz::Login { user } => {
                    result.unwrap();
                    let users = usize::from(user.is_some());
                    // Logged in, or refused with one error frame.
                    assert!(manager.users() == users || queued == 1);
                    if let Some(user) = &user {
                        assert!(manager.user_connections(user) == 1 || queued == 1);
                    }
                }
                Fuzz::Refuse { close: true } => {
                    assert_eq!(result.unwrap_err(), "close 4000: refused");
                }
                Fuzz::Refuse { close: false } => {
                    result.unwrap();
                    assert_eq!(queued, 1, "the error frame");
                }
                Fuzz::Echo { .. } => {
                    result.unwrap();
                    assert_eq!(queued, 1, "the echo");
                }
                Fuzz::Said { .. } => unreachable!("refused above"),
            }
        }
    }
    assert_eq!(manager.connections(), 2);
    // Once the connections go, nothing of them is left in the registry.
    drop(conns);
    assert_eq!(
        (manager.connections(), manager.rooms(), manager.users()),
        (0, 0, 0),
        "the registry kept something after {text:?}"
    );
});
