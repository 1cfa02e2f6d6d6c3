//! Fuzzes the per-message path of the read loop: decode the JSON, check its
//! direction, route it to the handler, apply the outcome. Any input must
//! end in a result, never a panic.
//!
//! ```text
//! cargo install cargo-fuzz
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_route -- -max_total_time=60
//! ```
//! (`RUSTC_BOOTSTRAP=1` lets the stable toolchain take the sanitizer flags.)

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ws_core::bench::{Detached, decode_and_route};
use ws_core::{Ctx, HandlerError, HandlerResult, Manager, ws_protocol};

#[ws_protocol(send_queue = 64, on_full = "drop_oldest")]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fuzz {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    Leave { room: String },
    #[ws(client)]
    Say { room: String, text: String, n: Option<i64>, tags: Vec<String> },
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
    async fn join(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Join) -> HandlerResult {
        ctx.join(&msg.room)?;
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Say) -> HandlerResult {
        ctx.to_room(&msg.room).send(fuzz::Said { room: msg.room.clone(), text: msg.text })?;
        Ok(())
    }

    async fn login(&self, ctx: &Ctx<Fuzz>, msg: fuzz::Login) -> HandlerResult {
        ctx.set_user(msg.user.map(Into::into))?;
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

struct Harness {
    runtime: tokio::runtime::Runtime,
    conns: Detached<Fuzz>,
    ctx: Ctx<Fuzz>,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let manager = Manager::<Fuzz>::new();
    let conns = Detached::join(&manager, "lobby", 2);
    let ctx = conns.ctx(0);
    Harness { runtime, conns, ctx }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let harness = &*HARNESS;
    let _ = harness
        .runtime
        .block_on(decode_and_route(&harness.ctx, &App, text));
    harness.conns.drain();
});
