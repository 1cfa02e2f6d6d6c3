//! Behaviour README promises that no other test pinned down: `/health`
//! turning `full` at the cap, shutdown's 1001 after every frame already
//! queued, and `TCP_NODELAY` on the sockets `ws_core::serve` accepts.

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::MaybeTlsStream;
use ws_core::Protocol;

use crate::support::{Client, RawClient, Server, Test, WAIT, close_payload, test};

/// A bare HTTP/1.1 GET of `/health`: its status and JSON body.
async fn health(addr: SocketAddr) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("no /health response within the wait")
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

/// README: `/health` answers 503 with `status` `full` at the cap, and 200
/// again once a slot is free.
#[tokio::test]
async fn health_is_503_full_at_the_connection_cap() {
    let server = Server::start(Test::CONFIG.with_max_connections(2)).await;
    let (status, body) = health(server.addr).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let first = server.connect().await;
    let (status, body) = health(server.addr).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    let _second = server.connect().await;
    let (status, body) = health(server.addr).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("full")),
        "{body}"
    );
    assert_eq!(
        (body["admitted"].as_u64(), body["max_connections"].as_u64()),
        (Some(2), Some(2))
    );
    // What the health check says, admission does.
    let (refused, _) = Client::refused(&server.url("")).await;
    assert_eq!(refused, 503);

    first.close(1000, "").await;
    server.until("a slot is free", |m| m.admitted() == 1).await;
    let (status, body) = health(server.addr).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
}

/// README: shutdown "sends close 1001 to every connection after what is
/// already queued for it". A peer that was not reading while 100 frames of
/// 256 KiB were queued for it, and reads only once shutdown has begun, gets
/// every frame, whole and in order, then the 1001, then the end of the
/// stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_1001_after_every_queued_frame() {
    const FRAMES: usize = 100;
    const SIZE: usize = 256 << 10;
    const RCVBUF: u32 = 64 << 10;
    // Most of the frames are still in the server's queue, not in the
    // kernel, when shutdown begins: the socket holds at most the server's
    // send buffer (tcp_wmem's maximum) plus the client's receive buffer
    // (fixed at twice RCVBUF once set, with no autotuning).
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .map(|s| s.split_whitespace().nth(2).unwrap().parse().unwrap())
        .unwrap_or(4 << 20);
    let in_kernel = wmem_max + 2 * RCVBUF as usize;
    assert!(
        FRAMES * SIZE >= 4 * in_kernel,
        "the socket could hold a quarter of the frames ({in_kernel} bytes)"
    );

    let server = Server::start(Test::CONFIG.with_send_queue(FRAMES * 2)).await;
    let mut peer = RawClient::connect_with(server.addr, Some(RCVBUF)).await;
    peer.send_text(r#"{"type":"join","room":"queued"}"#).await;
    peer.send_text(r#"{"type":"echo","text":"joined"}"#).await;
    let (opcode, echo) = peer.next_frame().await;
    assert_eq!(
        (opcode, echo.as_slice()),
        (1, br#"{"type":"echo","text":"joined"}"#.as_slice())
    );

    let filler = "x".repeat(SIZE);
    for n in 0..FRAMES {
        let said = test::Said {
            room: "queued".into(),
            text: format!("{n:04}{filler}"),
            from: 0,
        };
        server.manager.to_room("queued").send(said).unwrap();
    }
    let manager = server.manager.clone();
    let shutdown = tokio::spawn(async move { manager.shutdown(Duration::from_secs(30)).await });

    let frames = peer.frames_until_eof().await;
    let report = timeout(WAIT, shutdown)
        .await
        .expect("shutdown did not return once the peer had read everything")
        .unwrap();
    assert_eq!((report.closed, report.forced), (1, 0));
    let texts: Vec<String> = frames
        .iter()
        .filter(|(opcode, _)| *opcode == 1)
        .map(|(_, payload)| {
            let said: Value = serde_json::from_slice(payload).unwrap();
            said["text"].as_str().unwrap()[..4].to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..FRAMES).map(|n| format!("{n:04}")).collect();
    assert_eq!(texts, expected, "every queued frame, once, in order");
    let (opcode, payload) = frames.last().unwrap();
    assert_eq!(*opcode, 8, "the last frame is the close");
    assert_eq!(
        close_payload(payload),
        (1001, "server shutting down".to_owned())
    );
    assert_eq!(
        frames.len(),
        FRAMES + 1,
        "nothing but the frames and the close"
    );
}

/// `ws_core::serve` (README: "TCP_NODELAY, a handshake deadline, the peer
/// address") sets `TCP_NODELAY` on every socket it accepts. The option is
/// not visible to the peer, and the server runs in this process: the test
/// finds the accepted socket among the process's descriptors by its two
/// addresses and reads the option with getsockopt. No hook in ws-core.
#[tokio::test]
async fn serve_sets_tcp_nodelay_on_accepted_sockets() {
    let server = Server::default().await;
    let mut client = server.connect().await;
    client.sync().await;
    let MaybeTlsStream::Plain(tcp) = client.ws.get_ref() else {
        panic!("a plain TCP client");
    };
    let client_addr = tcp.local_addr().unwrap();
    // The client's own socket, for contrast: tokio-tungstenite's connect
    // leaves Nagle on.
    assert!(!socket2::SockRef::from(tcp).tcp_nodelay().unwrap());

    let mut accepted = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: only getsockname, getpeername and getsockopt, which read;
        // a descriptor another test closes meanwhile makes them fail with
        // EBADF (or read an unrelated socket, which the addresses rule out).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
        if local == Some(server.addr) && peer == Some(client_addr) {
            accepted.push(socket.tcp_nodelay().unwrap());
        }
    }
    assert_eq!(accepted, [true], "the accepted socket, with TCP_NODELAY");
}
