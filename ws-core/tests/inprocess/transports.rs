//! The transports `ws_core::serve` speaks on one port: HTTP/1.1 upgrades,
//! WebSockets over HTTP/2 by extended CONNECT (RFC 8441; h2c with prior
//! knowledge, and h2 over TLS by ALPN), and TLS (rustls, the certificate
//! reloaded when its files change). Real clients: the `h2` crate,
//! tokio-rustls and tungstenite.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::MaybeTlsStream;
use ws_core::axum::http::StatusCode;
use ws_core::{Compression, Manager, Protocol, Tls};

use crate::support::{
    CertFiles, Client, H2Stream, Server, Test, WAIT, certificate, h2_connect, h2_handshake,
    h2_websocket, said, tls_client, tls_connect,
};

#[tokio::test]
async fn several_websockets_on_one_http2_connection_join_chat_and_close_apart() {
    let server = Server::default().await;
    let authority = server.addr.to_string();
    let h2 = h2_connect(server.addr).await;
    let mut streams = Vec::new();
    for user in ["ann", "bob", "cy"] {
        let (client, _) = h2_websocket(&h2, &authority, &format!("/ws?user={user}"), &[])
            .await
            .unwrap();
        streams.push(client);
    }
    // HTTP/1.1 on the same port, in the same room.
    let mut plain = server.connect_as("dee").await;
    server
        .until("4 connections", |m| m.connections() == 4)
        .await;
    for client in &mut streams {
        client.join_synced("lobby").await;
    }
    plain.join_synced("lobby").await;

    streams[1]
        .send(json!({"type": "say", "room": "lobby", "text": "over h2"}))
        .await;
    for client in &mut streams {
        hears(client, "over h2").await;
    }
    hears(&mut plain, "over h2").await;
    plain
        .send(json!({"type": "say", "room": "lobby", "text": "over h1"}))
        .await;
    for client in &mut streams {
        hears(client, "over h1").await;
    }
    hears(&mut plain, "over h1").await;

    // Each stream closes on its own, with its own code; the others chat on.
    let mut cy = streams.pop().unwrap();
    let bob = streams.pop().unwrap();
    let mut ann = streams.pop().unwrap();
    ann.send(json!({"type": "fail", "how": "close"})).await;
    assert_eq!(ann.closed().await, (4000, "handler closed".to_owned()));
    bob.close(4001, "bob leaves").await;
    cy.sync().await;
    cy.send(json!({"type": "say", "room": "lobby", "text": "still here"}))
        .await;
    hears(&mut cy, "still here").await;
    hears(&mut plain, "still here").await;
    cy.close(4002, "cy leaves").await;
    server.until("1 connection", |m| m.connections() == 1).await;
    let mut codes: Vec<_> = server
        .disconnects()
        .iter()
        .map(|d| {
            (
                d.user.as_ref().map(|u| u.to_string()),
                d.peer_close.as_ref().map(|c| c.code),
                d.server_close.as_ref().map(|c| c.code),
            )
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            (Some("ann".to_owned()), None, Some(4000)),
            (Some("bob".to_owned()), Some(4001), None),
            (Some("cy".to_owned()), Some(4002), None),
        ]
    );

    // The connection outlives its streams: a new WebSocket opens on it.
    let (mut again, _) = h2_websocket(&h2, &authority, "/ws?user=eve", &[])
        .await
        .unwrap();
    again.join_synced("lobby").await;
    plain
        .send(json!({"type": "say", "room": "lobby", "text": "welcome"}))
        .await;
    hears(&mut again, "welcome").await;
}

#[tokio::test]
async fn a_websocket_that_does_not_read_stalls_only_its_own_http2_stream() {
    // A queue deep enough that nothing is evicted: what the stalled
    // stream's window does not take waits in its queue.
    let server = Server::start(Test::CONFIG.with_send_queue(1024)).await;
    let authority = server.addr.to_string();
    let h2 = h2_connect(server.addr).await;
    let (mut stalled, _) = h2_websocket(&h2, &authority, "/ws?user=slow", &[])
        .await
        .unwrap();
    let (mut busy, _) = h2_websocket(&h2, &authority, "/ws?user=busy", &[])
        .await
        .unwrap();
    let (mut other, _) = h2_websocket(&h2, &authority, "/ws?user=other", &[])
        .await
        .unwrap();
    stalled.join_synced("flood").await;
    other.join_synced("calm").await;
    // 300 KB into a room whose only member does not read: more than its
    // stream's window (64 KiB, the client's) holds, less than the client's
    // connection window (16 MiB) and the stream's queue.
    let text = "x".repeat(1000);
    for _ in 0..300 {
        busy.send(json!({"type": "say", "room": "flood", "text": text}))
            .await;
    }
    busy.sync().await;
    // The other streams on the connection go on meanwhile. (With the
    // client's windows the other way round, a stream window larger than
    // the connection's, the stalled stream takes the connection's and
    // this message never comes: the test fails, as it should.)
    let unhindered = "y".repeat(4000);
    other
        .send(json!({"type": "say", "room": "calm", "text": unhindered}))
        .await;
    assert_eq!(said(&other.recv().await), ("calm".into(), unhindered));
    busy.sync().await;
    assert_eq!(server.manager.connections(), 3);
    // Read again, the stalled WebSocket gets everything, in order.
    for _ in 0..300 {
        assert_eq!(said(&stalled.recv().await), ("flood".into(), text.clone()));
    }
    stalled.quiet().await;
}

#[tokio::test]
async fn http2_websockets_go_through_the_same_admission_origin_auth_and_deflate() {
    let server = Server::start(
        Test::CONFIG
            .with_max_connections(2)
            .with_compression(Compression::Deflate),
    )
    .await;
    let authority = server.addr.to_string();
    let h2 = h2_connect(server.addr).await;
    let refused = |result: Result<(Client<H2Stream>, _), (StatusCode, String)>| match result {
        Err((status, _)) => status,
        Ok(_) => panic!("expected a refusal"),
    };
    // `authenticate` sees the request.
    let denied = h2_websocket(&h2, &authority, "/ws?deny", &[]).await;
    assert_eq!(refused(denied), StatusCode::UNAUTHORIZED);
    // Origin: another site's page is refused; the server's own origin
    // (its `:authority`, HTTP/2 having no `Host`) is not.
    let foreign = h2_websocket(
        &h2,
        &authority,
        "/ws",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(refused(foreign), StatusCode::FORBIDDEN);
    let own_origin = format!("http://{authority}");
    let (_first, headers) = h2_websocket(&h2, &authority, "/ws", &[("origin", &own_origin)])
        .await
        .unwrap();
    assert!(headers.get("sec-websocket-accept").is_none());
    // Subprotocols and deflate are negotiated as over HTTP/1.1.
    let offered = format!("{}.msgpack", <Test as Protocol>::SUBPROTOCOL);
    let (_second, headers) = h2_websocket(
        &h2,
        &authority,
        "/ws",
        &[
            ("sec-websocket-protocol", &offered),
            ("sec-websocket-extensions", "permessage-deflate"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(headers["sec-websocket-protocol"], offered.as_str());
    assert!(
        headers["sec-websocket-extensions"]
            .to_str()
            .unwrap()
            .starts_with("permessage-deflate"),
        "{headers:?}"
    );
    // The connection cap counts HTTP/2 WebSockets.
    let third = h2_websocket(&h2, &authority, "/ws", &[]).await;
    assert_eq!(refused(third), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.manager.connections(), 2);
}

#[tokio::test]
async fn http2_serves_plain_routes_and_refuses_a_websocket_without_extended_connect() {
    let server = Server::default().await;
    let h2 = h2_connect(server.addr).await;
    let get = |path: &str| {
        let request = ws_core::axum::http::Request::get(format!("http://{}{path}", server.addr))
            .body(())
            .unwrap();
        let h2 = h2.clone();
        async move {
            let mut h2 = h2.ready().await.unwrap();
            let (response, _) = h2.send_request(request, true).unwrap();
            response.await.unwrap().status()
        }
    };
    assert_eq!(get("/health").await, StatusCode::OK);
    assert_eq!(get("/ws").await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_http2_connection_must_send_a_request_within_the_handshake_timeout() {
    let server =
        Server::start(Test::CONFIG.with_handshake_timeout(Duration::from_millis(300))).await;
    // The preface and SETTINGS, then nothing: GOAWAY and the end.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut rest = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut rest))
        .await
        .expect("the idle HTTP/2 connection was not closed")
        .unwrap();
    // Half a preface: closed as a half-sent HTTP/1 head is.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let read = timeout(WAIT, tcp.read(&mut [0; 64]))
        .await
        .expect("the half preface was not dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // A stream opened late still has its own full handshake deadline.
    let h2 = h2_connect(server.addr).await;
    let (mut first, _) = h2_websocket(&h2, &server.addr.to_string(), "/ws", &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (mut late, _) = h2_websocket(&h2, &server.addr.to_string(), "/ws", &[])
        .await
        .unwrap();
    late.sync().await;
    first.sync().await;
}

#[tokio::test]
async fn a_stopping_server_closes_its_http2_connections_after_their_websockets() {
    use std::sync::Arc;
    use ws_core::{CloseInfo, endpoint};
    // `stop`: the manager's shutdown first (as the chat example does)?
    for manager_first in [true, false] {
        let config = Test::CONFIG.with_handshake_timeout(Duration::from_millis(500));
        let manager = Manager::<Test>::with_config(config);
        let router = ws_core::axum::Router::new().route(
            "/ws",
            endpoint(manager.clone(), Arc::new(crate::support::App::default())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let closing = manager.clone();
        let serving = tokio::spawn(
            ws_core::serve(listener, router)
                .handshake_timeout(manager.config().handshake_timeout())
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                    if manager_first {
                        let restart = CloseInfo::new(1012, "server restarting");
                        closing.shutdown_with(restart, Duration::from_secs(5)).await;
                    }
                }),
        );
        let h2 = h2_connect(addr).await;
        let (mut ws, _) = h2_websocket(&h2, &addr.to_string(), "/ws", &[])
            .await
            .unwrap();
        ws.sync().await;
        stop.send(()).unwrap();
        if manager_first {
            assert_eq!(ws.closed().await, (1012, "server restarting".to_owned()));
        }
        // Without the manager's shutdown the WebSocket is still open on the
        // connection: cut after the handshake timeout, and `serve` returns.
        timeout(WAIT, serving)
            .await
            .expect("serve did not return")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn tls_serves_http1_and_http2_by_alpn_on_one_port() {
    let (_files, cert, server) = tls_server("alpn").await;

    // wss:// over HTTP/1.1.
    let http1 = tls_client(&[&cert], &[b"http/1.1"]);
    let stream = tls_connect(server.addr, &http1).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (ws, response) = tokio_tungstenite::client_async("wss://localhost/ws?user=ann", stream)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut ann = Client::over(ws);

    // h2 by ALPN: two WebSockets on one TLS connection.
    let http2 = tls_client(&[&cert], &[b"h2", b"http/1.1"]);
    let stream = tls_connect(server.addr, &http2).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let h2 = h2_handshake(stream).await;
    let (mut bob, _) = h2_websocket(&h2, "localhost", "/ws?user=bob", &[])
        .await
        .unwrap();
    let (mut cy, _) = h2_websocket(&h2, "localhost", "/ws?user=cy", &[])
        .await
        .unwrap();

    ann.join_synced("lobby").await;
    bob.join_synced("lobby").await;
    cy.join_synced("lobby").await;
    bob.send(json!({"type": "say", "room": "lobby", "text": "secret"}))
        .await;
    for client in [&mut bob, &mut cy] {
        hears(client, "secret").await;
    }
    hears(&mut ann, "secret").await;
    cy.close(4002, "bye").await;
    bob.close(4001, "bye").await;
    ann.close(1000, "bye").await;
    server
        .until("no connections", |m| m.connections() == 0)
        .await;

    // A client that speaks plaintext HTTP to the TLS port gets no answer
    // in HTTP.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = timeout(WAIT, plain.read_to_end(&mut answer)).await.unwrap();
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}

#[tokio::test]
async fn a_renewed_certificate_serves_the_next_connection_and_a_bad_one_is_not_taken() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let (files, first, server) = tls_server("reload").await;
    let addr = server.addr;
    let served = |connector: tokio_rustls::TlsConnector| async move {
        let stream = tls_connect(addr, &connector).await.unwrap();
        let (_, session) = stream.get_ref();
        session.peer_certificates().unwrap()[0].clone().into_owned()
    };
    let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();

    // An open connection keeps its certificate; the next one gets the new.
    let open = tls_connect(server.addr, &tls_client(&[&first], &[b"http/1.1"]))
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", open)
        .await
        .unwrap();
    let mut open = Client::over(ws);
    let second = files.renew();
    assert_eq!(
        served(tls_client(&[&first, &second], &[])).await,
        der(&second)
    );
    open.sync().await;

    // A key that is not the certificate's: logged, the previous pair stays.
    let (third, _) = certificate();
    files.write(files.cert(), &third);
    assert_eq!(
        served(tls_client(&[&second, &third], &[])).await,
        der(&second)
    );
    // Files that do not parse: the same.
    files.write(files.key(), "not a key");
    assert_eq!(
        served(tls_client(&[&second, &third], &[])).await,
        der(&second)
    );
    // Fixed: taken at the next accept.
    let fourth = files.renew();
    assert_eq!(served(tls_client(&[&fourth], &[])).await, der(&fourth));
    open.sync().await;
}

#[tokio::test]
async fn a_tls_handshake_is_held_to_the_handshake_timeout() {
    let files = CertFiles::new("deadline");
    files.renew();
    let tls = Tls::from_pem_files(files.cert(), files.key()).unwrap();
    let manager = Manager::<Test>::with_config(
        Test::CONFIG.with_handshake_timeout(Duration::from_millis(300)),
    );
    let server = Server::serving(manager, |serve| serve.tls(tls)).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let read = timeout(WAIT, silent.read(&mut [0; 64]))
        .await
        .expect("a silent TLS client was not dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[test]
fn tls_files_that_cannot_be_used_are_refused_at_start_with_the_reason() {
    let files = CertFiles::new("errors");
    let missing = Tls::from_pem_files(files.cert(), files.key()).unwrap_err();
    assert!(
        missing.to_string().starts_with("cannot read ") && missing.to_string().contains("cert.pem"),
        "{missing}"
    );
    let (cert, _) = certificate();
    let (_, other_key) = certificate();
    std::fs::write(files.cert(), &cert).unwrap();
    std::fs::write(files.key(), "").unwrap();
    let no_key = Tls::from_pem_files(files.cert(), files.key()).unwrap_err();
    assert!(no_key.to_string().contains("no private key"), "{no_key}");
    std::fs::write(files.key(), other_key).unwrap();
    let mismatch = Tls::from_pem_files(files.cert(), files.key()).unwrap_err();
    assert!(
        mismatch
            .to_string()
            .starts_with("the certificate and key cannot be used"),
        "{mismatch}"
    );
    std::fs::write(files.cert(), "").unwrap();
    let no_cert = Tls::from_pem_files(files.cert(), files.key()).unwrap_err();
    assert!(no_cert.to_string().contains("no certificate"), "{no_cert}");
}

/// Over TLS that `serve` terminates, the server's own origin is
/// `https://`: a page of the same host and port over https may connect,
/// the same host's `http://` page may not (RFC 6454: the scheme counts).
#[tokio::test]
async fn over_tls_the_servers_own_origin_is_https() {
    let (_files, cert, server) = tls_server("origin").await;
    let authority = format!("localhost:{}", server.addr.port());
    let http2 = tls_client(&[&cert], &[b"h2"]);
    let stream = tls_connect(server.addr, &http2).await.unwrap();
    let h2 = h2_handshake(stream).await;
    let own = format!("https://{authority}");
    let accepted = h2_websocket(&h2, &authority, "/ws", &[("origin", &own)]).await;
    assert!(accepted.is_ok(), "{:?}", accepted.err());
    let plain = format!("http://{authority}");
    let refused = h2_websocket(&h2, &authority, "/ws", &[("origin", &plain)]).await;
    assert_eq!(
        refused.err().map(|(status, _)| status),
        Some(StatusCode::FORBIDDEN)
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

/// Asserts the next message `client` gets is `text`, said in `lobby`.
async fn hears<S: AsyncRead + AsyncWrite + Unpin>(client: &mut Client<S>, text: &str) {
    assert_eq!(said(&client.recv().await), ("lobby".into(), text.into()));
}

/// A server of `Test` over TLS with a fresh certificate, in files named for
/// `name`: the files (to renew), the certificate, the server.
async fn tls_server(name: &str) -> (CertFiles, String, Server) {
    let files = CertFiles::new(name);
    let cert = files.renew();
    let tls = Tls::from_pem_files(files.cert(), files.key()).unwrap();
    let manager = Manager::<Test>::with_config(Test::CONFIG);
    let server = Server::serving(manager, |serve| serve.tls(tls)).await;
    (files, cert, server)
}
