//! The fixtures every test tier shares: a test protocol, a handler that
//! exercises every send form, a real axum server on 127.0.0.1:0 and real
//! WebSocket clients (plain, raw frames, HTTP/2, TLS); the chat example
//! in-process ([`chat`]) and its history contract ([`history`]); a protocol
//! of requests and replies ([`rpc`]); a Redis ([`redis`]); other processes
//! ([`process`]).
//!
//! Each tier includes this module with `#[path]` and uses a part of it.
#![allow(dead_code, reason = "each test tier uses a part of the fixtures")]

pub mod chat;
pub mod history;
pub mod process;
pub mod redis;
pub mod redis_cluster;
pub mod rpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ws_core::axum::Router;
use ws_core::axum::http::StatusCode;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::{
    Config, Ctx, Disconnect, HandlerError, HandlerResult, JoinRefused, Manager, Protocol, Session,
    UserId, endpoint, health, ws_protocol,
};

/// The test protocol's session: `?user=NAME` (or a `login`) and `?vip`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visitor {
    pub user: Option<UserId>,
    pub vip: bool,
}

impl Session for Visitor {
    fn user(&self) -> Option<UserId> {
        self.user.clone()
    }

    /// Presence shows whether a user is a VIP (`inprocess` `session`).
    fn presence(&self) -> Option<serde_json::Value> {
        self.vip.then(|| serde_json::json!({ "vip": true }))
    }
}

/// Everything the tests send and receive.
#[ws_protocol(
    send_queue = 64,
    heartbeat = "off",
    idle_timeout = "off",
    session = Visitor
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Test {
    /// Join a room.
    #[ws(client)]
    Join { room: String },
    /// Leave a room.
    #[ws(client)]
    Leave { room: String },
    /// To everyone in the room, the sender included.
    #[ws(client)]
    Say { room: String, text: String },
    /// To everyone in the room but the sender.
    #[ws(client)]
    Shout { room: String, text: String },
    /// To every connection of a user.
    #[ws(client)]
    Whisper { user: String, text: String },
    /// To every connection.
    #[ws(client)]
    Announce { text: String },
    /// Change this connection's user.
    #[ws(client)]
    Login { user: String },
    /// `count` numbered messages to the sender, enqueued without yielding.
    #[ws(client)]
    Burst { count: u64 },
    /// A handler that fails: `reply`, `close`, `internal` or `panic`.
    #[ws(client)]
    Fail { how: String },
    /// Join a room and log in as `user` from a spawned task, `delay_us`
    /// later: races with a disconnect.
    #[ws(client)]
    JoinLater {
        room: String,
        user: String,
        delay_us: u64,
    },
    /// Back to the sender.
    #[ws(client, server)]
    Echo { text: String },
    /// What the session holds; answered with `me`.
    #[ws(client, reply = Me)]
    Whoami,
    /// The session, as the handler reads it.
    #[ws(server)]
    Me { user: Option<String>, vip: bool },
    /// A message in a room.
    #[ws(server)]
    Said {
        room: String,
        text: String,
        from: u64,
    },
    /// One of a burst.
    #[ws(server)]
    Seq { n: u64 },
}

/// `said` from this connection; `room` is empty for a message to a user
/// or to all.
fn said_from(ctx: &Ctx<Test>, room: String, text: String) -> test::Said {
    test::Said {
        room,
        text,
        from: ctx.id().get(),
    }
}

#[derive(Default)]
pub struct App {
    pub disconnects: Mutex<Vec<Disconnect>>,
    /// `join_later` tasks spawned, and those that have finished their join and login attempt.
    pub joins_later_started: std::sync::atomic::AtomicUsize,
    pub joins_later_done: Arc<std::sync::atomic::AtomicUsize>,
}

impl TestHandler for App {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Visitor, Response> {
        let query = request.uri.query().unwrap_or("");
        if query.contains("deny") {
            return Err((StatusCode::UNAUTHORIZED, "no entry").into_response());
        }
        if query.contains("stall") {
            // An authentication backend that never answers.
            std::future::pending::<()>().await;
        }
        let user = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("user="))
            .map(UserId::from);
        let vip = query.split('&').any(|kv| kv == "vip");
        Ok(Visitor { user, vip })
    }

    /// Rooms named `vip-...` are for VIP sessions only.
    async fn authorize_join(&self, ctx: &Ctx<Test>, room: &str) -> Result<(), JoinRefused> {
        if room.starts_with("vip-") && !ctx.session().vip {
            return Err(JoinRefused::new("vip rooms are for vips"));
        }
        Ok(())
    }

    async fn join(&self, ctx: &Ctx<Test>, msg: test::Join) -> HandlerResult {
        ctx.join(&msg.room).await?;
        Ok(())
    }

    async fn leave(&self, ctx: &Ctx<Test>, msg: test::Leave) -> HandlerResult {
        ctx.leave(&msg.room);
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Test>, test::Say { room, text }: test::Say) -> HandlerResult {
        ctx.to_room(&room)
            .send(said_from(ctx, room.clone(), text))?;
        Ok(())
    }

    async fn shout(
        &self,
        ctx: &Ctx<Test>,
        test::Shout { room, text }: test::Shout,
    ) -> HandlerResult {
        ctx.to_room(&room)
            .except(ctx.id())
            .send(said_from(ctx, room.clone(), text))?;
        Ok(())
    }

    async fn whisper(&self, ctx: &Ctx<Test>, msg: test::Whisper) -> HandlerResult {
        let said = said_from(ctx, String::new(), msg.text);
        ctx.manager().to_user(&msg.user).send(said)?;
        Ok(())
    }

    async fn announce(&self, ctx: &Ctx<Test>, msg: test::Announce) -> HandlerResult {
        let said = said_from(ctx, String::new(), msg.text);
        ctx.manager().to_all().send(said)?;
        Ok(())
    }

    async fn login(&self, ctx: &Ctx<Test>, msg: test::Login) -> HandlerResult {
        let vip = ctx.session().vip;
        ctx.set_session(Visitor {
            user: Some(UserId::from(msg.user)),
            vip,
        })?;
        Ok(())
    }

    async fn whoami(&self, ctx: &Ctx<Test>, _: test::Whoami) -> HandlerResult<test::Me> {
        let session = ctx.session();
        Ok(test::Me {
            user: session.user.as_ref().map(|user| user.to_string()),
            vip: session.vip,
        })
    }

    async fn burst(&self, ctx: &Ctx<Test>, msg: test::Burst) -> HandlerResult {
        for n in 0..msg.count {
            ctx.send(test::Seq { n })?;
        }
        Ok(())
    }

    async fn fail(&self, _ctx: &Ctx<Test>, msg: test::Fail) -> HandlerResult {
        match msg.how.as_str() {
            "reply" => Err(HandlerError::reply("not_allowed", "you may not")),
            "close" => Err(HandlerError::close(4000, "handler closed")),
            "internal" => Err(std::io::Error::other("disk on fire"))?,
            _ => panic!("handler panicked on purpose"),
        }
    }

    async fn join_later(&self, ctx: &Ctx<Test>, msg: test::JoinLater) -> HandlerResult {
        let ctx = ctx.clone();
        let done = Arc::clone(&self.joins_later_done);
        self.joins_later_started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(msg.delay_us)).await;
            // Either succeeds before the unregistration or fails after it.
            let _ = ctx.join(&msg.room).await;
            let _ = ctx.set_session(Visitor {
                user: Some(UserId::from(msg.user)),
                vip: false,
            });
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Test>, msg: test::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }

    async fn on_disconnect(&self, _ctx: &Ctx<Test>, disconnect: &Disconnect) {
        self.disconnects.lock().push(disconnect.clone());
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub manager: Manager<Test>,
    pub app: Arc<App>,
}

impl Server {
    pub async fn start(config: Config) -> Server {
        Server::with_manager(Manager::<Test>::with_config(config)).await
    }

    pub async fn with_manager(manager: Manager<Test>) -> Server {
        Server::serving(manager, |serve| serve).await
    }

    /// With `options` applied to `ws_core::serve` (e.g. TLS).
    pub async fn serving(
        manager: Manager<Test>,
        options: impl FnOnce(ws_core::Serve) -> ws_core::Serve,
    ) -> Server {
        let app = Arc::new(App::default());
        let router = Router::new()
            .route("/ws", endpoint(manager.clone(), Arc::clone(&app)))
            .route("/health", health(manager.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(options(
            ws_core::serve(listener, router)
                .handshake_timeout(manager.config().handshake_timeout()),
        ));
        Server { addr, manager, app }
    }

    /// The protocol's defaults for tests: no heartbeat, no idle timeout.
    pub async fn default() -> Server {
        Server::start(Test::CONFIG).await
    }

    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.url("")).await
    }

    /// A client in `room`, once the server has handled its join.
    pub async fn member(&self, room: &str) -> Client {
        let mut client = self.connect().await;
        client.join_synced(room).await;
        client
    }

    pub async fn connect_as(&self, user: &str) -> Client {
        Client::connect(&self.url(&format!("?user={user}"))).await
    }

    /// Waits until `check` holds for the manager (cleanup runs on the
    /// server's own time after a client goes).
    pub async fn until(&self, what: &str, check: impl Fn(&Manager<Test>) -> bool) {
        eventually(what, || check(&self.manager)).await
    }

    pub fn disconnects(&self) -> Vec<Disconnect> {
        self.app.disconnects.lock().clone()
    }
}

/// Polls `check` for up to 10 s; a test that needs longer is broken.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The token of an `Authorization: Bearer TOKEN` header, if any.
pub fn bearer(request: &Parts) -> Option<&str> {
    let value = request
        .headers
        .get(ws_core::axum::http::header::AUTHORIZATION)?;
    value.to_str().ok()?.strip_prefix("Bearer ")
}

/// The next frame that is not a ping or a pong; fails the test after
/// `wait`.
pub async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    wait: Duration,
) -> Message {
    loop {
        let frame = timeout(wait, ws.next())
            .await
            .expect("no message within the wait")
            .expect("stream ended")
            .expect("read failed");
        if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
            return frame;
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket client over any transport: plain TCP by default, an HTTP/2
/// stream ([`H2Stream`]) or TLS.
pub struct Client<S = MaybeTlsStream<TcpStream>> {
    pub ws: WebSocketStream<S>,
    /// Every JSON frame this client sent and received, for schema checks.
    pub sent: Vec<Value>,
    pub received: Vec<Value>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        Client {
            ws,
            sent: Vec::new(),
            received: Vec::new(),
        }
    }

    /// The HTTP status of a refused connect.
    pub async fn refused(url: &str) -> (StatusCode, Option<String>) {
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => (
                response.status(),
                response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            ),
            Err(other) => panic!("expected an HTTP refusal, got {other}"),
            Ok(_) => panic!("expected an HTTP refusal, got a connection"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client on a stream whose handshake is done (an HTTP/2 stream
    /// after its `200`, a TLS stream after tungstenite's handshake).
    pub fn over(ws: WebSocketStream<S>) -> Client<S> {
        Client {
            ws,
            sent: Vec::new(),
            received: Vec::new(),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        self.sent.push(message);
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next text frame as JSON; fails the test after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    /// [`Client::recv`] for work that takes the server longer than [`WAIT`].
    pub async fn recv_within(&mut self, wait: Duration) -> Value {
        match next_message(&mut self.ws, wait).await {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                self.received.push(value.clone());
                value
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Asserts no message arrives for a short while (pings may).
    pub async fn silent(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if !matches!(frame, Message::Ping(_) | Message::Pong(_)) {
                panic!("expected silence, got {frame:?}");
            }
        }
    }

    /// The next frame of any kind; fails the test after [`WAIT`], naming
    /// `what` was awaited, so a lost message is a failure, not a hang.
    pub async fn next_frame(&mut self, what: &str) -> Option<Result<Message, tungstenite::Error>> {
        match timeout(WAIT, self.ws.next()).await {
            Ok(frame) => frame,
            Err(_) => panic!("no frame within {WAIT:?} while waiting for {what}"),
        }
    }

    /// Asserts nothing was queued for this client before a round trip
    /// sent now: the server handles this client's messages in order and
    /// queues to it in order, so anything already owed to it (by its own
    /// earlier messages or by sends that have completed elsewhere) arrives
    /// before the echo. A counter of completed work, not a time window.
    pub async fn quiet(&mut self) {
        const PROBE: &str = "quiet-probe";
        self.send(json!({"type": "echo", "text": PROBE})).await;
        let message = self.recv().await;
        assert_eq!(
            message,
            json!({"type": "echo", "text": PROBE}),
            "expected nothing before the probe's echo"
        );
    }

    /// Reads until the close frame; its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match timeout(WAIT, self.ws.next())
                .await
                .expect("no close within the wait")
            {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (code.into(), reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(Message::Text(text))) => {
                    self.received.push(serde_json::from_str(&text).unwrap());
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("read failed before a close frame: {error}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    }

    pub async fn join(&mut self, room: &str) {
        self.send(json!({"type": "join", "room": room})).await;
    }

    /// Joins `room` and returns once the server has handled the join.
    pub async fn join_synced(&mut self, room: &str) {
        self.join(room).await;
        self.sync().await;
    }

    /// Round-trips an echo, so everything sent before it has been handled.
    pub async fn sync(&mut self) {
        self.send(json!({"type": "echo", "text": "sync"})).await;
        loop {
            let message = self.recv().await;
            if message == json!({"type": "echo", "text": "sync"}) {
                return;
            }
        }
    }

    pub async fn close(mut self, code: u16, reason: &str) {
        self.ws
            .close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            }))
            .await
            .unwrap();
        // Read the server's reply so the handshake completes.
        while let Ok(Some(Ok(_))) = timeout(WAIT, self.ws.next()).await {}
    }
}

/// A client that completes the handshake and then does nothing at all: it
/// neither reads nor answers pings. What the server sent can be read
/// afterwards as raw frames.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient::connect_with(addr, None).await
    }

    /// With a receive buffer of `rcvbuf` bytes: a peer that does not read
    /// then holds little in the kernel, and the server's queue fills soon.
    pub async fn connect_with(addr: SocketAddr, rcvbuf: Option<u32>) -> RawClient {
        RawClient::handshake(addr, "/ws", "", rcvbuf).await
    }

    /// Upgrades at `path` with `headers` (each line ending in `\r\n`) added
    /// to the request, and a receive buffer of `rcvbuf` bytes if given.
    pub async fn handshake(
        addr: SocketAddr,
        path: &str,
        headers: &str,
        rcvbuf: Option<u32>,
    ) -> RawClient {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(bytes) = rcvbuf {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             {headers}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read the response head byte by byte so no frame is consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        RawClient { stream }
    }

    /// Sends a client (masked) text frame.
    pub async fn send_text(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        let len = text.len();
        let mut frame = vec![0x81];
        match len {
            0..=125 => frame.push(0x80 | len as u8),
            126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        // A zero mask: the payload goes as it is.
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(text.as_bytes());
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next whole server frame as (opcode, payload); fails the test after [`WAIT`].
    pub async fn next_frame(&mut self) -> (u8, Vec<u8>) {
        let (head, payload) = read_server_frame(&mut self.stream).await;
        assert_eq!(head & 0x70, 0, "reserved bits set");
        (head & 0x0f, payload)
    }

    /// Reads until the server closes the TCP connection; the frames it sent
    /// as (opcode, payload). Fails on a truncated frame.
    pub async fn frames_until_eof(mut self) -> Vec<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        timeout(WAIT, self.stream.read_to_end(&mut bytes))
            .await
            .expect("the server did not close the connection")
            .unwrap();
        let mut frames = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            assert!(rest.len() >= 2, "a truncated frame header");
            let (len, start) = match rest[1] & 0x7f {
                126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                127 => (
                    u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (usize::from(n), 2),
            };
            assert!(rest.len() >= start + len, "a truncated frame");
            frames.push((rest[0] & 0x0f, rest[start..start + len].to_vec()));
            rest = &rest[start + len..];
        }
        frames
    }
}

/// The next server frame off `stream`: its first byte (FIN, RSV bits,
/// opcode) and its payload; fails the test after [`WAIT`] or on a masked
/// or truncated frame.
pub async fn read_server_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    timeout(WAIT, async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await?;
        assert_eq!(head[1] & 0x80, 0, "a masked server frame");
        let len = match head[1] & 0x7f {
            126 => usize::from(stream.read_u16().await?),
            127 => stream.read_u64().await? as usize,
            n => usize::from(n),
        };
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await?;
        std::io::Result::Ok((head[0], payload))
    })
    .await
    .expect("no frame within the wait")
    .expect("the server closed the connection mid-frame")
}

/// The code and reason of a raw close frame payload.
pub fn close_payload(payload: &[u8]) -> (u16, String) {
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    (code, String::from_utf8(payload[2..].to_vec()).unwrap())
}

/// One HTTP/2 stream as a byte stream: what a WebSocket opened by an
/// extended CONNECT (RFC 8441) runs on, on the client's side.
pub struct H2Stream {
    send: h2::SendStream<bytes::Bytes>,
    recv: h2::RecvStream,
    /// Received and not yet read.
    pending: bytes::Bytes,
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while self.pending.is_empty() {
            match std::task::ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Read: the peer may send as much again.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.pending = data;
                }
                Some(Err(error)) => return Poll::Ready(Err(std::io::Error::other(error))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(self.pending.len());
        buf.put_slice(&self.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // The stream's own flow control: what the server's window allows.
        self.send.reserve_capacity(data.len());
        loop {
            match std::task::ready!(self.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(window)) => {
                    let n = window.min(data.len());
                    let chunk = bytes::Bytes::copy_from_slice(&data[..n]);
                    self.send
                        .send_data(chunk, false)
                        .map_err(std::io::Error::other)?;
                    return Poll::Ready(Ok(n));
                }
                Some(Err(error)) => return Poll::Ready(Err(std::io::Error::other(error))),
                None => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // END_STREAM; an error means the stream has ended already.
        let _ = self.send.send_data(bytes::Bytes::new(), true);
        std::task::Poll::Ready(Ok(()))
    }
}

/// An HTTP/2 client connection (with prior knowledge) to `addr`, its
/// connection task spawned. The client's stream window is small and its
/// connection window large, so that a stream the test does not read
/// stalls only itself.
pub async fn h2_connect(addr: SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    h2_handshake(tcp).await
}

/// The HTTP/2 handshake on `io` (plain TCP or TLS); the connection is
/// driven by a spawned task.
pub async fn h2_handshake<T>(io: T) -> h2::client::SendRequest<bytes::Bytes>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(64 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024)
        .handshake(io)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// Opens a WebSocket on the HTTP/2 connection `h2` by an extended CONNECT
/// (RFC 8441) to `path` (with its query) and `headers`; the status of a
/// refusal, with its body.
pub async fn h2_websocket(
    h2: &h2::client::SendRequest<bytes::Bytes>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Client<H2Stream>, ws_core::axum::http::HeaderMap), (StatusCode, String)> {
    let mut ready = h2.clone().ready().await.unwrap();
    // The server's SETTINGS arrive after the handshake: extended CONNECT may
    // be used once they say so.
    eventually("SETTINGS_ENABLE_CONNECT_PROTOCOL", || {
        ready.is_extended_connect_protocol_enabled()
    })
    .await;
    let mut request = ws_core::axum::http::Request::builder()
        .method("CONNECT")
        .uri(format!("https://{authority}{path}"))
        .header("sec-websocket-version", "13");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = ready.send_request(request, false).unwrap();
    let response = timeout(WAIT, response)
        .await
        .expect("no response to the extended CONNECT within the wait")
        .unwrap();
    let (head, mut recv) = response.into_parts();
    if head.status != StatusCode::OK {
        let mut body = Vec::new();
        while let Some(Ok(chunk)) = recv.data().await {
            body.extend_from_slice(&chunk);
        }
        return Err((head.status, String::from_utf8_lossy(&body).into_owned()));
    }
    let stream = H2Stream {
        send,
        recv,
        pending: bytes::Bytes::new(),
    };
    let ws =
        WebSocketStream::from_raw_socket(stream, tungstenite::protocol::Role::Client, None).await;
    Ok((Client::over(ws), head.headers))
}

/// A self-signed certificate for `localhost`, made now, as PEM (the
/// certificate, the key).
pub fn certificate() -> (String, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (cert.pem(), signing_key.serialize_pem())
}

/// A TLS client that trusts the certificates in `trusted` (PEM) and offers
/// `alpn`.
pub fn tls_client(trusted: &[&str], alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in trusted {
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
    }
    #[expect(
        deprecated,
        reason = "the provider the server uses; see ws-core's serve/tls.rs"
    )]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// A TLS connection to `addr` as `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// `said` as every member of `room` gets it, without the sender's id.
pub fn said(message: &Value) -> (String, String) {
    assert_eq!(message["type"], "said", "{message}");
    (
        message["room"].as_str().unwrap().to_owned(),
        message["text"].as_str().unwrap().to_owned(),
    )
}

/// A certificate and key written to files of their own.
pub struct CertFiles {
    dir: PathBuf,
    /// Writes so far: each moves the files' modification time on by a
    /// second, so that a change is seen whatever the clock's resolution.
    writes: std::cell::Cell<u64>,
}

impl CertFiles {
    pub fn new(name: &str) -> CertFiles {
        let dir = std::env::temp_dir().join(format!("ws-core-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        CertFiles {
            dir,
            writes: std::cell::Cell::new(0),
        }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    pub fn write(&self, path: PathBuf, contents: &str) {
        std::fs::write(&path, contents).unwrap();
        self.writes.set(self.writes.get() + 1);
        let modified = std::time::SystemTime::now() + Duration::from_secs(self.writes.get());
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }

    /// Writes a new certificate and key; the certificate's PEM.
    pub fn renew(&self) -> String {
        let (cert, key) = certificate();
        self.write(self.cert(), &cert);
        self.write(self.key(), &key);
        cert
    }
}
impl Drop for CertFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
