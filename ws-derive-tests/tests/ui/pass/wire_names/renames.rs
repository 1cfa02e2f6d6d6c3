//! Wire names follow serde: `rename_all` (every rule), `rename`, unit
//! variants, the default external tagging; `message_type()` always equals the
//! tag serde writes. cfgs are applied before wire names are compared.

#![deny(warnings)]

use ws_core::__private::serde_json::{self, Value, json};
use ws_core::{Protocol, ws_protocol};

/// The tag serde writes for `message`, whatever the tagging.
fn tag<P: Protocol>(message: &P) -> String {
    match serde_json::to_value(message).unwrap() {
        Value::String(unit) => unit,
        Value::Object(map) if map.contains_key("kind") => map["kind"].as_str().unwrap().to_owned(),
        Value::Object(map) => map.keys().next().unwrap().clone(),
        other => panic!("unexpected {other}"),
    }
}

fn same_as_serde<P: Protocol>(messages: &[P], expected: &[&str]) {
    let types: Vec<&str> = messages.iter().map(Protocol::message_type).collect();
    assert_eq!(types, expected);
    let tags: Vec<String> = messages.iter().map(tag).collect();
    assert_eq!(tags, expected);
}

macro_rules! rule {
    ($name:ident, $rule:literal, [$($expected:literal),*]) => {
        #[ws_protocol]
        #[serde(rename_all = $rule)]
        enum $name {
            #[ws(client)]
            JoinRoom { room: String },
            #[ws(server)]
            HTTPStatus,
            #[ws(server)]
            #[serde(rename = "custom.name")]
            Renamed,
        }
        same_as_serde(
            &[$name::JoinRoom { room: String::new() }, $name::HTTPStatus, $name::Renamed],
            &[$($expected),*],
        );
    };
}

// Variants of an internally tagged enum, one with every shape.
/// Wire names from `rename_all = "kebab-case"`.
#[ws_protocol(module = "msg")]
#[derive(Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Internal {
    #[ws(client)]
    StartGame { players: u8 },
    #[ws(client)]
    Ping {},
    #[ws(server)]
    GameOver,
    #[ws(server)]
    #[serde(rename = "over")]
    #[cfg(any())]
    GameOver2,
    #[ws(server)]
    #[cfg(all())]
    #[serde(rename = "over")]
    GameOverToo,
}

/// No server messages at all: the server mirror is an empty enum.
#[ws_protocol]
enum ClientOnly {
    #[ws(client)]
    Hello,
}

/// No messages at all.
#[ws_protocol]
enum Empty {}

fn main() {
    rule!(Plain, "PascalCase", ["JoinRoom", "HTTPStatus", "custom.name"]);
    rule!(Lower, "lowercase", ["joinroom", "httpstatus", "custom.name"]);
    rule!(Upper, "UPPERCASE", ["JOINROOM", "HTTPSTATUS", "custom.name"]);
    rule!(Camel, "camelCase", ["joinRoom", "hTTPStatus", "custom.name"]);
    rule!(Snake, "snake_case", ["join_room", "h_t_t_p_status", "custom.name"]);
    rule!(Screaming, "SCREAMING_SNAKE_CASE", ["JOIN_ROOM", "H_T_T_P_STATUS", "custom.name"]);
    rule!(Kebab, "kebab-case", ["join-room", "h-t-t-p-status", "custom.name"]);
    rule!(ScreamingKebab, "SCREAMING-KEBAB-CASE", ["JOIN-ROOM", "H-T-T-P-STATUS", "custom.name"]);

    same_as_serde(
        &[
            Internal::StartGame { players: 2 },
            Internal::Ping {},
            Internal::GameOver,
            Internal::GameOverToo,
        ],
        &["start-game", "ping", "game-over", "over"],
    );
    assert_eq!(
        serde_json::to_value(Internal::from(msg::StartGame { players: 2 })).unwrap(),
        json!({ "kind": "start-game", "players": 2 })
    );
    assert_eq!(Internal::from(msg::Ping {}), Internal::Ping {});
    assert_eq!(Internal::from(msg::GameOver), Internal::GameOver);
    let over: Internal = serde_json::from_value(json!({ "kind": "over" })).unwrap();
    assert_eq!(over, Internal::GameOverToo);

    let schema = Internal::json_schema().to_string();
    for needle in ["\"start-game\"", "\"ping\"", "\"game-over\"", "\"over\"", "InternalClient", "InternalServer"] {
        assert!(schema.contains(needle), "{needle} missing from {schema}");
    }

    assert_eq!(ClientOnly::Hello.message_type(), "Hello");
    assert_eq!(serde_json::to_value(ClientOnly::from(client_only::Hello)).unwrap(), json!("Hello"));
    assert!(ClientOnly::json_schema().to_string().contains("ClientOnlyServer"));

    let empty = Empty::json_schema().to_string();
    assert!(empty.contains("EmptyClient") && empty.contains("EmptyServer"), "{empty}");
}
