//! The chat example's binary on the transports of `ws_core::serve`: HTTP/1.1
//! and HTTP/2 WebSockets on one port, and TLS with HTTP/2 by ALPN.

use serde_json::json;

use crate::support::process::ChatProcess;
use crate::support::{
    CertFiles, Client, h2_connect, h2_handshake, h2_websocket, said, tls_client, tls_connect,
};

/// The chat example's contract on several WebSockets of one HTTP/2
/// connection and one HTTP/1.1 client beside them: each joins (`joined`
/// first), every `say` reaches every member, and each closes on its own.
async fn chat_on_one_connection<S>(
    h2: &h2::client::SendRequest<bytes::Bytes>,
    authority: &str,
    mut plain: Client<S>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut streams = Vec::new();
    for user in ["ann", "bob", "cy"] {
        let (client, _) = h2_websocket(h2, authority, &format!("/ws?user={user}"), &[])
            .await
            .unwrap();
        streams.push(client);
    }
    for client in &mut streams {
        client.join("lobby").await;
        assert_eq!(client.recv().await["type"], "joined");
    }
    plain.join("lobby").await;
    assert_eq!(plain.recv().await["type"], "joined");
    for (n, speaker) in ["ann", "bob", "cy"].iter().enumerate() {
        let text = format!("hello from {speaker}");
        streams[n]
            .send(json!({"type": "say", "room": "lobby", "text": text}))
            .await;
        for client in &mut streams {
            assert_eq!(said(&client.recv().await), ("lobby".into(), text.clone()));
        }
        assert_eq!(said(&plain.recv().await), ("lobby".into(), text.clone()));
    }
    for (code, client) in (4001..).zip(streams) {
        client.close(code, "bye").await;
    }
    plain
        .send(json!({"type": "say", "room": "lobby", "text": "alone"}))
        .await;
    assert_eq!(said(&plain.recv().await), ("lobby".into(), "alone".into()));
}

#[tokio::test]
async fn the_chat_example_serves_http1_and_http2_websockets_on_one_port() {
    let chat = ChatProcess::start("127.0.0.1:0", &[]).await;
    let plain = Client::connect(&format!("ws://{}/ws?user=dee", chat.addr)).await;
    let h2 = h2_connect(chat.addr).await;
    chat_on_one_connection(&h2, &chat.addr.to_string(), plain).await;
}

#[tokio::test]
async fn the_chat_example_serves_tls_with_http2_by_alpn() {
    let files = CertFiles::new("chat");
    let cert = files.renew();
    let (cert_path, key_path) = (files.cert(), files.key());
    let chat = ChatProcess::start(
        "127.0.0.1:0",
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    )
    .await;
    let http1 = tls_client(&[&cert], &[b"http/1.1"]);
    let stream = tls_connect(chat.addr, &http1).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/ws?user=dee", stream)
        .await
        .unwrap();
    let http2 = tls_client(&[&cert], &[b"h2", b"http/1.1"]);
    let stream = tls_connect(chat.addr, &http2).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let h2 = h2_handshake(stream).await;
    chat_on_one_connection(&h2, "localhost", Client::over(ws)).await;
}
