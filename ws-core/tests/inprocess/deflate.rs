//! permessage-deflate (RFC 7692) and the frame parser that reads the
//! connections which negotiate it, against a real server on 127.0.0.1.
//!
//! A conformance matrix modelled on the Autobahn test suite's groups, with
//! raw frames from a socket (the cases name the Autobahn group they follow):
//! framing and reserved bits (1-3), ping and pong payloads (2), fragmentation
//! with interleaved control frames (5), UTF-8 including invalid sequences
//! split across fragments (6), the close handshake and its codes (7), and
//! compressed messages, fragmented ones included (12-13); then the bound on
//! inflation (1009 after bounded work), the negotiation, a broadcast shared
//! by deflate and plain recipients, and python `websockets`, which offers
//! the extension by default.

use std::net::SocketAddr;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use ws_core::{Compression as Mode, Protocol};

use crate::support::{Server, Test, WAIT, read_server_frame};

const OFFER: &str = "permessage-deflate; client_max_window_bits";

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;

/// A frame a test sends: its first byte and its payload.
type Sent<'a> = (u8, &'a [u8]);

/// One server frame.
#[derive(Debug)]
struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Frame {
    /// The payload as JSON, inflated if it was compressed.
    fn json(self) -> Value {
        let payload = if self.rsv1 {
            inflate(&self.payload)
        } else {
            self.payload
        };
        serde_json::from_slice(&payload).unwrap()
    }
}

/// A client that writes frames byte by byte as a test says, with a mask
/// that is not zero (so the server's unmasking is exercised).
struct Peer {
    stream: TcpStream,
    /// The `Sec-WebSocket-Extensions` the server answered, if any.
    agreed: Option<String>,
}

impl Peer {
    async fn connect(addr: SocketAddr, offer: Option<&str>) -> Peer {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let extensions = offer.map_or(String::new(), |offer| {
            format!("Sec-WebSocket-Extensions: {offer}\r\n")
        });
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {extensions}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let agreed = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_owned())
        });
        Peer { stream, agreed }
    }

    /// A peer that negotiated the extension.
    async fn deflate(server: &Server) -> Peer {
        let peer = Peer::connect(server.addr, Some(OFFER)).await;
        assert_eq!(
            peer.agreed.as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        peer
    }

    /// Sends one frame: `first` is the first byte (FIN, RSV, opcode).
    async fn send(&mut self, first: u8, payload: &[u8]) {
        self.send_with(first, payload, true).await;
    }

    async fn send_with(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mask_bit = if masked { 0x80 } else { 0 };
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..=125 => frame.push(mask_bit | len as u8),
            len @ 126..=0xffff => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        if masked {
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        } else {
            frame.extend_from_slice(payload);
        }
        // A write may fail once the server has closed: the test reads the
        // close frame next.
        let _ = self.stream.write_all(&frame).await;
    }

    async fn send_json(&mut self, value: Value) {
        self.send(FIN | TEXT, value.to_string().as_bytes()).await;
    }

    /// The next server frame; fails the test after [`WAIT`].
    async fn next(&mut self) -> Frame {
        let (head, payload) = read_server_frame(&mut self.stream).await;
        assert_eq!(head & 0x30, 0, "RSV2 or RSV3 set");
        Frame {
            fin: head & FIN != 0,
            rsv1: head & RSV1 != 0,
            opcode: head & 0x0f,
            payload,
        }
    }

    /// The next text message, inflated if it was compressed.
    async fn recv(&mut self) -> Value {
        let frame = self.next().await;
        assert_eq!((frame.opcode, frame.fin), (TEXT, true), "{frame:?}");
        frame.json()
    }

    /// The server's close code (frames before it skipped), after which the
    /// server must end the TCP connection.
    async fn closed(mut self) -> u16 {
        loop {
            let frame = self.next().await;
            if frame.opcode != CLOSE {
                continue;
            }
            let code = match frame.payload.first_chunk::<2>() {
                Some(code) => u16::from_be_bytes(*code),
                None => 1005,
            };
            let mut rest = Vec::new();
            let eof = timeout(WAIT, self.stream.read_to_end(&mut rest)).await;
            assert!(
                eof.is_ok(),
                "the server kept the connection after its close"
            );
            return code;
        }
    }

    /// A round trip proving the connection is still in order.
    async fn echo(&mut self, text: &str) {
        self.send_json(json!({"type": "echo", "text": text})).await;
        assert_eq!(self.recv().await["text"], text);
    }
}

/// What a client compresses: raw deflate, sync flush, tail removed.
fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    compress
        .compress_vec(payload, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut inflater = Decompress::new(false);
    let mut out = Vec::with_capacity(1 << 20);
    inflater
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

fn echo_json(text: &str) -> Vec<u8> {
    json!({"type": "echo", "text": text})
        .to_string()
        .into_bytes()
}

/// A text that deflate shrinks: a chat message's worth of words.
fn chatty(bytes: usize) -> String {
    let words = ["hello", "room", "message", "deflate", "shared", "frame"];
    let mut text = String::new();
    let mut i = 0;
    while text.len() < bytes {
        text += words[i % words.len()];
        text.push(' ');
        i += 7;
    }
    text
}

// --- negotiation ---------------------------------------------------------

#[tokio::test]
async fn negotiation_follows_rfc_7692() {
    let server = Server::default().await;
    let cases = [
        (None, false),
        (Some("permessage-deflate"), true),
        (Some(OFFER), true),
        (Some("permessage-deflate; client_max_window_bits=9"), true),
        (
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            true,
        ),
        (Some("permessage-deflate; server_max_window_bits=10"), true),
        // zlib cannot compress with a 256-byte window: declined, and the
        // next offer accepted.
        (Some("permessage-deflate; server_max_window_bits=8"), false),
        (
            Some("permessage-deflate; server_max_window_bits=8, permessage-deflate"),
            true,
        ),
        (Some("permessage-deflate; client_max_window_bits=16"), false),
        (Some("permessage-deflate; mystery"), false),
        (
            Some("permessage-deflate; client_no_context_takeover; client_no_context_takeover"),
            false,
        ),
        (Some("x-webkit-deflate-frame"), false),
    ];
    for (offer, agreed) in cases {
        let mut peer = Peer::connect(server.addr, offer).await;
        assert_eq!(
            peer.agreed.is_some(),
            agreed,
            "{offer:?}: {:?}",
            peer.agreed
        );
        peer.echo("negotiated").await;
    }

    // A smaller window is answered, and the messages that follow are
    // compressed with it (RFC 7692 7.1.2.1).
    let mut peer = Peer::connect(
        server.addr,
        Some("permessage-deflate; server_max_window_bits=9; client_max_window_bits"),
    )
    .await;
    assert_eq!(
        peer.agreed.as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9"
        )
    );
    peer.echo("a small window").await;

    let off = Server::start(Test::CONFIG.with_compression(Mode::Off)).await;
    let mut peer = Peer::connect(off.addr, Some(OFFER)).await;
    assert_eq!(peer.agreed, None);
    peer.echo("declined").await;
    // Not negotiated: RSV1 is a protocol error.
    peer.send(FIN | RSV1 | TEXT, &deflate(&echo_json("x")))
        .await;
    assert_eq!(peer.closed().await, 1002);
}

// --- framing and reserved bits (Autobahn 1, 3) ---------------------------

#[tokio::test]
async fn framing_and_reserved_bits() {
    let server = Server::default().await;
    // Payload lengths of each header size, masked, echoed whole.
    let mut peer = Peer::deflate(&server).await;
    // (The JSON around the text makes frames of 2 to 65,535 bytes and one
    // of 64-bit length, just under the 64 KiB limit.)
    for len in [0, 100, 101, 300, 65_000, 65_480] {
        peer.echo(&"x".repeat(len)).await;
    }
    let cases: [(&str, u8, &[u8]); 7] = [
        ("RSV2", FIN | 0x20 | TEXT, b"{}"),
        ("RSV3", FIN | 0x10 | TEXT, b"{}"),
        ("RSV1 on a ping", FIN | RSV1 | PING, b""),
        ("reserved opcode 3", FIN | 0x3, b""),
        ("reserved opcode 7", FIN | 0x7, b""),
        ("reserved opcode 0xB", FIN | 0xB, b""),
        ("reserved opcode 0xF", FIN | 0xF, b""),
    ];
    for (case, first, payload) in cases {
        let mut peer = Peer::deflate(&server).await;
        peer.echo("before").await;
        peer.send(first, payload).await;
        assert_eq!(peer.closed().await, 1002, "{case}");
    }
    let mut unmasked = Peer::deflate(&server).await;
    unmasked
        .send_with(FIN | TEXT, &echo_json("bare"), false)
        .await;
    assert_eq!(unmasked.closed().await, 1002, "an unmasked frame");

    let mut huge = Peer::deflate(&server).await;
    let mut header = vec![FIN | TEXT, 0x80 | 127];
    header.extend_from_slice(&u64::MAX.to_be_bytes());
    huge.stream.write_all(&header).await.unwrap();
    assert_eq!(
        huge.closed().await,
        1002,
        "a 64-bit length with its high bit"
    );

    // Past max_message_size, refused from the header alone.
    let mut big = Peer::deflate(&server).await;
    let mut header = vec![FIN | TEXT, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    big.stream.write_all(&header).await.unwrap();
    assert_eq!(big.closed().await, 1009, "a 1 TiB frame header");
}

// --- ping and pong (Autobahn 2) -------------------------------------------

#[tokio::test]
async fn pings_are_answered_and_limited_to_125_bytes() {
    let server = Server::default().await;
    let mut peer = Peer::deflate(&server).await;
    for payload in [&b""[..], b"hello", &[0xfe; 125], &[0, 1, 2, 0xff]] {
        peer.send(FIN | PING, payload).await;
        let pong = peer.next().await;
        assert_eq!((pong.opcode, pong.fin, pong.rsv1), (PONG, true, false));
        assert_eq!(pong.payload, payload);
    }
    // An unsolicited pong is ignored.
    peer.send(FIN | PONG, b"unasked").await;
    peer.echo("after pong").await;
    peer.send(FIN | PING, &[b'p'; 126]).await;
    assert_eq!(peer.closed().await, 1002, "a 126-byte ping");
    let mut peer = Peer::deflate(&server).await;
    peer.send(PING, b"fragmented").await;
    assert_eq!(peer.closed().await, 1002, "a fragmented ping");
}

// --- fragmentation (Autobahn 5) --------------------------------------------

#[tokio::test]
async fn fragments_with_interleaved_control_frames() {
    let server = Server::default().await;
    let mut peer = Peer::deflate(&server).await;
    let message = echo_json("one message in fragments");
    let (a, rest) = message.split_at(5);
    let (b, c) = rest.split_at(10);
    peer.send(TEXT, a).await;
    peer.send(FIN | PING, b"between").await;
    let pong = peer.next().await;
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (PONG, &b"between"[..])
    );
    peer.send(CONTINUATION, b"").await;
    peer.send(CONTINUATION, b).await;
    peer.send(FIN | PONG, b"").await;
    peer.send(FIN | CONTINUATION, c).await;
    assert_eq!(peer.recv().await["text"], "one message in fragments");
    // Byte by byte.
    for (i, byte) in message.iter().enumerate() {
        let first = match i {
            0 => TEXT,
            _ if i == message.len() - 1 => FIN | CONTINUATION,
            _ => CONTINUATION,
        };
        peer.send(first, &[*byte]).await;
    }
    assert_eq!(peer.recv().await["text"], "one message in fragments");

    let cases: [(&str, &[Sent]); 4] = [
        ("a continuation first", &[(FIN | CONTINUATION, b"{}")]),
        (
            "a continuation after the end",
            &[(FIN | TEXT, b"{}"), (FIN | CONTINUATION, b"{}")],
        ),
        (
            "a text inside a message",
            &[(TEXT, b"{"), (FIN | TEXT, b"}")],
        ),
        (
            "a binary inside a message",
            &[(TEXT, b"{"), (FIN | BINARY, b"}")],
        ),
    ];
    for (case, frames) in cases {
        let mut peer = Peer::deflate(&server).await;
        for (first, payload) in frames {
            peer.send(*first, payload).await;
        }
        assert_eq!(peer.closed().await, 1002, "{case}");
    }

    // The limit holds across fragments.
    let small = Server::start(Test::CONFIG.with_max_message_size(1024)).await;
    let mut peer = Peer::deflate(&small).await;
    peer.send(TEXT, &[b' '; 600]).await;
    peer.send(CONTINUATION, &[b' '; 600]).await;
    assert_eq!(peer.closed().await, 1009, "fragments past the limit");
}

// --- UTF-8 (Autobahn 6) -----------------------------------------------------

#[tokio::test]
async fn utf8_is_checked_across_fragments() {
    let server = Server::default().await;
    let mut peer = Peer::deflate(&server).await;
    let text = "κόσμε 𝄞 Hello-µ@ßöäüàá-UTF-8!!";
    let message = echo_json(text);
    // Split inside every multi-byte sequence in turn.
    for cut in 1..message.len() {
        peer.send(TEXT, &message[..cut]).await;
        peer.send(FIN | CONTINUATION, &message[cut..]).await;
        assert_eq!(peer.recv().await["text"], text, "cut at {cut}");
    }

    let invalid: [(&str, &[&[u8]]); 5] = [
        ("a lone continuation byte", &[b"\"\x80\""]),
        ("an overlong encoding", &[b"\"\xc0\xaf\""]),
        ("a surrogate", &[b"\"\xed\xa0\x80\""]),
        // Beyond U+10FFFF, split between the fragments.
        ("split past U+10FFFF", &[b"\"\xf4", b"\x90\x80\x80\""]),
        // A sequence the last fragment leaves unfinished.
        ("cut at the end", &[b"\"ok", b"\xce"]),
    ];
    for (case, fragments) in invalid {
        let mut peer = Peer::deflate(&server).await;
        let last = fragments.len() - 1;
        for (i, fragment) in fragments.iter().enumerate() {
            let first = match (i, i == last) {
                (0, true) => FIN | TEXT,
                (0, false) => TEXT,
                (_, true) => FIN | CONTINUATION,
                (_, false) => CONTINUATION,
            };
            peer.send(first, fragment).await;
        }
        assert_eq!(peer.closed().await, 1007, "{case}");
    }

    // Fail fast: an invalid first fragment closes before the message ends.
    let mut peer = Peer::deflate(&server).await;
    peer.send(TEXT, b"{\"type\":\"echo\",\"text\":\"\xff").await;
    assert_eq!(peer.closed().await, 1007, "fail fast");

    // A compressed text message is checked too, after inflation.
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | RSV1 | TEXT, &deflate(b"\"\xed\xa0\x80\""))
        .await;
    assert_eq!(peer.closed().await, 1007, "compressed invalid UTF-8");
}

// --- close handshake (Autobahn 7) -------------------------------------------

#[tokio::test]
async fn the_close_handshake_and_its_codes() {
    let server = Server::default().await;
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut peer = Peer::deflate(&server).await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ✓".as_bytes());
        peer.send(FIN | CLOSE, &payload).await;
        assert_eq!(peer.closed().await, code, "echo of {code}");
    }
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | CLOSE, b"").await;
    assert_eq!(
        peer.closed().await,
        1005,
        "an empty close is answered empty"
    );

    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let mut peer = Peer::deflate(&server).await;
        peer.send(FIN | CLOSE, &code.to_be_bytes()).await;
        assert_eq!(peer.closed().await, 1002, "invalid code {code}");
    }
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | CLOSE, &[0x03]).await;
    assert_eq!(peer.closed().await, 1002, "a one-byte close payload");
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | CLOSE, b"\x03\xe8\xce").await;
    assert_eq!(peer.closed().await, 1007, "a reason that is not UTF-8");
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | CLOSE, &[0x03, 0xe8, b'x']).await;
    peer.send(FIN | TEXT, &echo_json("after close")).await;
    assert_eq!(peer.closed().await, 1000, "nothing is read after a close");

    // The server records the peer's close.
    server
        .until("the close recorded", |_| {
            server
                .disconnects()
                .iter()
                .any(|d| d.peer_close.as_ref().is_some_and(|c| c.code == 4999))
        })
        .await;
}

// --- compressed messages (Autobahn 12, 13) ----------------------------------

#[tokio::test]
async fn compressed_messages_whole_and_fragmented() {
    let server = Server::default().await;
    let mut peer = Peer::deflate(&server).await;
    for len in [0, 10, 200, 1_000, 5_000, 60_000] {
        let text = chatty(len);
        peer.send(FIN | RSV1 | TEXT, &deflate(&echo_json(&text)))
            .await;
        let frame = peer.next().await;
        // The reply is compressed from `compress_min_size` (256 B) on.
        let json_len = echo_json(&text).len();
        assert_eq!(frame.rsv1, json_len >= 256, "{len}: {frame:?}");
        let echoed = frame.json();
        assert_eq!(echoed["text"], text.as_str());
    }
    // A compressed message in fragments, control frames between them;
    // only the first carries RSV1.
    let text = chatty(3_000);
    let compressed = deflate(&echo_json(&text));
    let third = compressed.len() / 3;
    peer.send(RSV1 | TEXT, &compressed[..third]).await;
    peer.send(FIN | PING, b"mid").await;
    assert_eq!(peer.next().await.opcode, PONG);
    peer.send(CONTINUATION, &compressed[third..2 * third]).await;
    peer.send(FIN | CONTINUATION, &compressed[2 * third..])
        .await;
    assert_eq!(peer.recv().await["text"], text.as_str());
    // Uncompressed messages on the same connection (allowed per message).
    peer.echo("plain").await;
    // A client that ends its deflate stream (BFINAL) is read too.
    let mut finished = Vec::new();
    let mut compress = Compress::new(Compression::fast(), false);
    finished.reserve(4096);
    compress
        .compress_vec(
            &echo_json("final block"),
            &mut finished,
            FlushCompress::Finish,
        )
        .unwrap();
    peer.send(FIN | RSV1 | TEXT, &finished).await;
    assert_eq!(peer.recv().await["text"], "final block");

    let mut peer = Peer::deflate(&server).await;
    peer.send(RSV1 | TEXT, &compressed[..third]).await;
    peer.send(FIN | RSV1 | CONTINUATION, &compressed[third..])
        .await;
    assert_eq!(peer.closed().await, 1002, "RSV1 on a continuation");

    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | RSV1 | TEXT, &[0xff, 0xff, 0xff, 0xff])
        .await;
    assert_eq!(peer.closed().await, 1007, "not deflate");
}

/// A 1 KB frame that inflates to megabytes: closed with 1009 once the
/// inflated size passes the limit, with the others served meanwhile.
#[tokio::test]
async fn a_small_frame_that_inflates_past_the_limit_closes_with_1009() {
    let server = Server::start(Test::CONFIG.with_max_message_size(64 * 1024)).await;
    let zeros = vec![b' '; 8 << 20];
    let bomb = deflate(&zeros);
    assert!(bomb.len() <= 10 * 1024, "{}", bomb.len());
    let mut bystander = Peer::deflate(&server).await;
    for first in [FIN | RSV1 | TEXT, FIN | RSV1 | BINARY] {
        let mut peer = Peer::deflate(&server).await;
        peer.send(first, &bomb).await;
        assert_eq!(peer.closed().await, 1009);
        bystander.echo("unaffected").await;
    }
    // In fragments: the compressed size is small, the inflated one is not.
    let mut peer = Peer::deflate(&server).await;
    let half = bomb.len() / 2;
    peer.send(RSV1 | TEXT, &bomb[..half]).await;
    peer.send(FIN | CONTINUATION, &bomb[half..]).await;
    assert_eq!(peer.closed().await, 1009);
    // Exactly at the limit is allowed.
    let text = "a".repeat(64 * 1024 - echo_json("").len());
    let mut peer = Peer::deflate(&server).await;
    peer.send(FIN | RSV1 | TEXT, &deflate(&echo_json(&text)))
        .await;
    assert_eq!(peer.recv().await["text"], text.as_str());
}

// --- outbound sharing -------------------------------------------------------

/// One room, recipients with and without deflate: each gets the message,
/// compressed or not as it negotiated, and small frames go uncompressed.
#[tokio::test]
async fn a_broadcast_reaches_deflate_and_plain_recipients() {
    let server = Server::start(Test::CONFIG.with_compress_min_size(512)).await;
    let mut deflated = Vec::new();
    for _ in 0..3 {
        let mut peer = Peer::deflate(&server).await;
        peer.send_json(json!({"type": "join", "room": "r"})).await;
        peer.echo("joined").await;
        deflated.push(peer);
    }
    let mut plain = Peer::connect(server.addr, None).await;
    plain.send_json(json!({"type": "join", "room": "r"})).await;
    plain.echo("joined").await;
    let mut client = server.member("r").await;

    for (text, compressed) in [(chatty(2_000), true), ("short".to_owned(), false)] {
        client
            .send(json!({"type": "say", "room": "r", "text": text}))
            .await;
        let mut wires = Vec::new();
        for peer in &mut deflated {
            let frame = peer.next().await;
            assert_eq!(frame.rsv1, compressed);
            wires.push(frame.payload.clone());
            let said = frame.json();
            assert_eq!(said["text"], text.as_str());
        }
        // The same bytes for every deflate recipient: one compression.
        assert!(wires.windows(2).all(|w| w[0] == w[1]));
        let frame = plain.next().await;
        assert!(!frame.rsv1);
        let said: Value = serde_json::from_slice(&frame.payload).unwrap();
        assert_eq!(said["text"], text.as_str());
        if compressed {
            assert!(
                wires[0].len() * 3 < frame.payload.len(),
                "{}",
                wires[0].len()
            );
        }
        assert_eq!(client.recv().await["text"], text.as_str());
    }
}

// --- a real client that negotiates it ---------------------------------------
