//! Every relative path in the expansion breaks here: the prelude's names,
//! `core`, `std`, `serde`, `schemars` and `ws_core` are all shadowed, and
//! warnings (with `unused_qualifications`) are errors. Field names collide
//! with the generated parameters.

#![deny(warnings, unused_qualifications)]

mod core {}
mod std {}
mod serde {}
mod serde_json {}
mod schemars {}
mod ws_core {}

struct Result;
struct Option;
struct Vec;
struct String;
struct Box;
struct Some;
struct None;
struct Ok;
struct Err;
struct Duration;
struct Config;
struct Ctx;
struct Protocol;
struct Route;
struct Outbound;
trait Send {}
trait Sync {}
trait Future {}
trait From {}
trait Into {}
trait Sized {}
trait Serialize {}
trait Deserialize {}
trait JsonSchema {}

/// A protocol whose fields are named like the generated parameters.
#[::ws_core::ws_protocol(send_queue = 4, heartbeat = "off", on_full = "drop_oldest",
                         on_invalid = "close", max_message_size = 1024, read_buffer = "1KiB",
                         write_buffer = "2 KiB", max_per_user = 2, max_connections = 0,
                         idle_timeout = "1h", module = "wire", max_rooms = 0,
                         max_room_name = 32, handshake_timeout = "2s",
                         max_per_ip = 3, handshake_rate = "10/s",
                         inflate_rate = "2MiB/s", inflate_node_rate = "off",
                         max_fragments = 64, fragment_timeout = "5s")]
#[serde(tag = "type")]
pub enum Shadowed {
    /// Fields named like the parameters of `route`.
    #[ws(client)]
    Route {
        ctx: ::std::string::String,
        handler: u32,
        message: ::core::option::Option<u32>,
        msg: ::std::vec::Vec<u8>,
        r#loop: bool,
    },
    /// A keyword as the handler method's name: `r#type`.
    #[ws(client, server)]
    Type {},
    #[ws(server)]
    Done,
    /// A request: its reply goes through `__private::reply` with the id.
    #[ws(client, reply = Done)]
    Ask {
        id_: u32,
    },
}

struct App;

impl ShadowedHandler for App {
    async fn route(
        &self,
        _ctx: &::ws_core::Ctx<Shadowed>,
        msg: wire::Route,
    ) -> ::ws_core::HandlerResult {
        let _ = (msg.ctx, msg.handler, msg.message, msg.msg, msg.r#loop);
        ::core::result::Result::Ok(())
    }

    async fn r#type(&self, ctx: &::ws_core::Ctx<Shadowed>, msg: wire::Type) -> ::ws_core::HandlerResult {
        ctx.send(msg)?;
        ::core::result::Result::Ok(())
    }

    async fn ask(
        &self,
        _ctx: &::ws_core::Ctx<Shadowed>,
        msg: wire::Ask,
    ) -> ::ws_core::HandlerResult<wire::Done> {
        let _ = msg.id_;
        ::core::result::Result::Ok(wire::Done)
    }
}

impl Send for App {}
impl Sync for App {}
impl Future for App {}
impl From for App {}
impl Into for App {}
impl Sized for App {}
impl Serialize for App {}
impl Deserialize for App {}
impl JsonSchema for App {}

fn routes<P: ::ws_core::Route<H>, H>() {}

fn shadows_are_used<T: Send + Sync + Future + From + Into + Sized + Serialize + Deserialize + JsonSchema>() {}

fn main() {
    let _ = (Result, Option, Vec, String, Box, Some, None, Ok, Err, Duration, Config);
    let _ = (Ctx, Protocol, Route, Outbound);
    routes::<Shadowed, App>();
    shadows_are_used::<App>();

    let config = <Shadowed as ::ws_core::Protocol>::CONFIG;
    assert_eq!(config.send_queue(), 4);
    assert_eq!(config.heartbeat(), ::core::option::Option::None);
    assert_eq!(config.idle_timeout(), ::core::option::Option::Some(::core::time::Duration::from_secs(3600)));
    assert_eq!(config.on_full(), ::ws_core::Overflow::DropOldest);
    assert_eq!(config.on_invalid(), ::ws_core::OnInvalid::Close);
    assert_eq!(config.max_message_size(), 1024);
    assert_eq!(config.read_buffer(), 1024);
    assert_eq!(config.write_buffer(), 2048);
    assert_eq!(config.max_per_user(), 2);
    assert_eq!(config.max_connections(), 0);
    assert_eq!(config.max_rooms(), 0);
    assert_eq!(config.max_room_name(), 32);
    assert_eq!(config.handshake_timeout(), ::core::time::Duration::from_secs(2));
    assert_eq!(config.max_per_ip(), 3);
    assert_eq!(
        config.handshake_rate(),
        ::core::option::Option::Some(::ws_core::RateLimit::new(10, ::core::time::Duration::from_secs(1)))
    );

    let done: Shadowed = ::core::convert::From::from(wire::Done);
    assert_eq!(::ws_core::Protocol::message_type(&done), "Done");
    assert_eq!(::ws_core::Protocol::message_type(&Shadowed::Type {}), "Type");
    assert!(!::ws_core::Protocol::is_from_client(&done));
    let _ = Shadowed::json_schema();
    let _ = Shadowed::asyncapi();
    let _ = Shadowed::typescript();
    assert_eq!(<Shadowed as ::ws_core::Protocol>::PATH, "/ws");
}
