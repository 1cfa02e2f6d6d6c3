//! The full chat example: options, docs, derives, serde attributes, a handler.

#![deny(warnings)]

use ws_core::__private::serde_json::{self, json};
use ws_core::{
    Config, Ctx, HandlerResult, OnInvalid, OnRateLimit, Outbound, Overflow, Protocol, RateLimit, Route,
    ws_protocol,
};

/// A chat protocol.
#[ws_protocol(max_connections = 10_000, send_queue = 256, on_full = "close",
              max_message_size = "64KiB", heartbeat = "30s", idle_timeout = "60s",
              rate_limit = "600/m", rate_burst = 20, on_rate_limit = "close")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    /// Join a room.
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    Say { room: String, text: String },
    /// Echo: both directions.
    #[ws(client, server)]
    Echo { text: String },
    #[ws(server)]
    Said {
        room: String,
        text: String,
        /// Who said it; absent for system messages.
        #[serde(default)]
        from: Option<String>,
    },
    #[ws(server)]
    Kicked,
}

struct App;

impl ChatHandler for App {
    async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
        ctx.join(&msg.room).await?;
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Chat>, chat::Say { room, text }: chat::Say) -> HandlerResult {
        ctx.manager().to_room(&room).send(chat::Said { room: room.clone(), text, from: None })?;
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Chat>, msg: chat::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }
}

fn routes<P: Route<H>, H>() {}

fn outbound<M: Outbound<Chat>>(message: M) -> Chat {
    message.into_message()
}

fn main() {
    routes::<Chat, App>();

    assert_eq!(Chat::NAME, "Chat");
    const CONFIG: Config = Chat::CONFIG;
    assert_eq!(CONFIG.max_connections(), 10_000);
    assert_eq!(CONFIG.send_queue(), 256);
    assert_eq!(CONFIG.on_full(), Overflow::Close);
    assert_eq!(CONFIG.max_message_size(), 64 * 1024);
    assert_eq!(CONFIG.heartbeat(), Some(std::time::Duration::from_secs(30)));
    assert_eq!(CONFIG.idle_timeout(), Some(std::time::Duration::from_secs(60)));
    assert_eq!(CONFIG.on_invalid(), OnInvalid::Error);
    assert_eq!(
        CONFIG.rate_limit(),
        Some(RateLimit::new(600, std::time::Duration::from_secs(60)).with_burst(20))
    );
    assert_eq!(CONFIG.on_rate_limit(), OnRateLimit::Close);

    let join = Chat::from(chat::Join { room: "rust".into() });
    assert_eq!(join, Chat::Join { room: "rust".into() });
    assert_eq!(join.message_type(), "join");
    assert!(join.is_from_client());
    assert_eq!(Chat::Kicked.message_type(), "kicked");
    assert!(!Chat::Kicked.is_from_client());
    assert!(Chat::Echo { text: String::new() }.is_from_client());

    // Derives of the enum reach the structs.
    let said = chat::Said { room: "rust".into(), text: "hi".into(), from: None };
    assert_eq!(said.clone(), said);
    assert_eq!(format!("{:?}", chat::Kicked), "Kicked");

    assert_eq!(
        outbound(said),
        Chat::Said { room: "rust".into(), text: "hi".into(), from: None }
    );
    assert_eq!(outbound(chat::Echo { text: "e".into() }), Chat::Echo { text: "e".into() });

    // serde round trip with the user's attributes.
    let value = serde_json::to_value(Chat::Say { room: "r".into(), text: "t".into() }).unwrap();
    assert_eq!(value, json!({ "type": "say", "room": "r", "text": "t" }));
    let said: Chat = serde_json::from_value(json!({ "type": "said", "room": "r", "text": "t" })).unwrap();
    assert_eq!(said, Chat::Said { room: "r".into(), text: "t".into(), from: None });

    let schema = Chat::json_schema();
    assert_eq!(schema, <Chat as Protocol>::json_schema());
    assert_eq!(schema["title"], "Chat");
    assert_eq!(schema["description"], "A chat protocol.");
    let text = schema.to_string();
    for needle in ["ChatClient", "ChatServer", "Join a room.", "Who said it", "\"kicked\""] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}
