//! Cross-site WebSocket hijacking and malformed handshakes are refused
//! before the 101: a browser handshake from another site gets 403, a key
//! that is not the base64 of 16 bytes gets 400.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_core::Protocol;

use crate::support::{Server, Test};

/// The status line the server answers a handshake with these headers.
async fn status(addr: SocketAddr, key: &str, extra: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap().trim_end().to_owned()
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[tokio::test]
async fn browser_handshakes_from_other_sites_get_403() {
    let server = Server::default().await;
    let addr = server.addr;
    let own = format!("Origin: http://{addr}\r\n");
    assert_eq!(
        status(addr, KEY, &own).await,
        "HTTP/1.1 101 Switching Protocols"
    );
    // Not a browser: no Origin, not checked.
    assert_eq!(
        status(addr, KEY, "").await,
        "HTTP/1.1 101 Switching Protocols"
    );
    for origin in [
        "https://evil.example",
        "null",
        &format!("http://{}:{}", addr.ip(), addr.port() + 1),
    ] {
        let refused = status(addr, KEY, &format!("Origin: {origin}\r\n")).await;
        assert_eq!(refused, "HTTP/1.1 403 Forbidden", "{origin}");
    }
    // X-Forwarded-Host counts only from a trusted proxy.
    let spoof = "Origin: https://evil.example\r\nX-Forwarded-Host: evil.example\r\n";
    assert_eq!(status(addr, KEY, spoof).await, "HTTP/1.1 403 Forbidden");
    let behind_proxy =
        Server::start(Test::CONFIG.with_trusted_proxies(vec!["127.0.0.1/32".parse().unwrap()]))
            .await;
    let proxied = "Origin: https://chat.example\r\nX-Forwarded-Host: chat.example\r\n\
                   X-Forwarded-Proto: https\r\n";
    assert_eq!(
        status(behind_proxy.addr, KEY, proxied).await,
        "HTTP/1.1 101 Switching Protocols"
    );
}

/// RFC 6454 origins: scheme, host and port. A plain-HTTP server refuses an
/// `https://` page of its own host and port; behind a trusted TLS proxy
/// (`X-Forwarded-Proto: https`) the `https://` page is its own and the
/// `http://` page of the same host is refused; the header counts only from
/// a trusted proxy.
#[tokio::test]
async fn another_scheme_of_the_same_host_gets_403() {
    let server = Server::default().await;
    let addr = server.addr;
    let forbidden = "HTTP/1.1 403 Forbidden";
    let switching = "HTTP/1.1 101 Switching Protocols";
    for (headers, expected) in [
        (format!("Origin: http://{addr}\r\n"), switching),
        (format!("Origin: https://{addr}\r\n"), forbidden),
        // From an untrusted peer the header is the client's own claim.
        (
            format!("Origin: https://{addr}\r\nX-Forwarded-Proto: https\r\n"),
            forbidden,
        ),
    ] {
        assert_eq!(status(addr, KEY, &headers).await, expected, "{headers}");
    }
    let behind_tls =
        Server::start(Test::CONFIG.with_trusted_proxies(vec!["127.0.0.1/32".parse().unwrap()]))
            .await;
    let tls = "X-Forwarded-Host: chat.example\r\nX-Forwarded-Proto: https\r\n";
    for (origin, proto, expected) in [
        ("https://chat.example", tls, switching),
        ("https://chat.example:443", tls, switching),
        ("http://chat.example", tls, forbidden),
        ("http://chat.example:443", tls, forbidden),
        // A proxy that does not say it terminates TLS: plain HTTP.
        (
            "https://chat.example",
            "X-Forwarded-Host: chat.example\r\n",
            forbidden,
        ),
        (
            "http://chat.example",
            "X-Forwarded-Host: chat.example\r\n",
            switching,
        ),
    ] {
        let got = status(
            behind_tls.addr,
            KEY,
            &format!("Origin: {origin}\r\n{proto}"),
        )
        .await;
        assert_eq!(got, expected, "{origin} with {proto:?}");
    }
}

#[tokio::test]
async fn allowed_origins_widen_the_check() {
    let server = Server::start(
        Test::CONFIG.with_allowed_origins(["https://app.example", "https://*.example.org"]),
    )
    .await;
    let addr = server.addr;
    for (origin, expected) in [
        ("https://app.example", "HTTP/1.1 101 Switching Protocols"),
        ("https://a.example.org", "HTTP/1.1 101 Switching Protocols"),
        ("https://example.org", "HTTP/1.1 403 Forbidden"),
        ("https://evil.example", "HTTP/1.1 403 Forbidden"),
    ] {
        let got = status(addr, KEY, &format!("Origin: {origin}\r\n")).await;
        assert_eq!(got, expected, "{origin}");
    }
    let any = Server::start(Test::CONFIG.with_allowed_origins(["*"])).await;
    let got = status(any.addr, KEY, "Origin: https://evil.example\r\n").await;
    assert_eq!(got, "HTTP/1.1 101 Switching Protocols");
}

#[tokio::test]
async fn a_malformed_key_gets_400() {
    let server = Server::default().await;
    for key in [
        "short",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZSE=",
        "!!!!!!!!!!!!!!!!!!!!!!==",
    ] {
        assert_eq!(
            status(server.addr, key, "").await,
            "HTTP/1.1 400 Bad Request",
            "{key}"
        );
    }
    assert_eq!(server.manager.connections(), 0);
}
