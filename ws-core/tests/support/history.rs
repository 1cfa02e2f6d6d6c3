//! The chat example's history contract from a client's side: join (or
//! resume) a room, cut a connection as a network failure does, check a
//! `said`.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio_tungstenite::MaybeTlsStream;

use crate::support::Client;

/// Connects and joins `room`, from `since` if given; the client and the
/// `joined` answer, which must be the first frame.
pub async fn join(addr: SocketAddr, room: &str, since: Option<(&str, u64)>) -> (Client, Value) {
    let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
    let mut message = json!({"type": "join", "room": room});
    if let Some((epoch, offset)) = since {
        message["since"] = json!({"epoch": epoch, "offset": offset});
    }
    client.send(message).await;
    let joined = client.recv().await;
    assert_eq!(joined["type"], "joined", "the first frame answers the join");
    assert_eq!(joined["room"], room);
    (client, joined)
}

/// Cuts the TCP connection without a close frame (a reset), as a network
/// failure does.
pub fn cut(client: Client) {
    if let MaybeTlsStream::Plain(tcp) = client.ws.get_ref() {
        tcp.set_zero_linger().unwrap();
    }
    drop(client);
}

/// The `said` with `offset` of `epoch`, the `offset - 1`th text published.
pub fn assert_said(said: &Value, epoch: &str, offset: u64) {
    assert_eq!(said["type"], "said", "{said}");
    assert_eq!(said["epoch"], epoch, "{said}");
    assert_eq!(said["offset"], offset, "a gap or a duplicate: {said}");
    assert_eq!(said["text"], (offset - 1).to_string(), "{said}");
}

/// `user` resumes `room` from `since` and asks `who` at once, before its
/// replay could have run: the users `present` lists.
pub async fn resume_then_who(
    addr: SocketAddr,
    room: &str,
    user: &str,
    since: (&str, u64),
) -> (Client, Value) {
    let mut client = Client::connect(&format!("ws://{addr}/ws?user={user}")).await;
    let (epoch, offset) = since;
    client
        .send(json!({"type": "join", "room": room, "since": {"epoch": epoch, "offset": offset}}))
        .await;
    client
        .send(json!({"type": "who", "room": room, "id": 1}))
        .await;
    loop {
        let message = client.recv().await;
        if message["type"] == "present" {
            return (client, message["users"].clone());
        }
    }
}
