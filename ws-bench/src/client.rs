//! Client connections: loopback only, `TCP_NODELAY`, a chosen read buffer,
//! and source addresses spread over 127.0.0.x when one address's ephemeral
//! ports would not be enough.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;

/// Where the server is: a `ws://` URL on a loopback address.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// A `/socket.io/` path: the server speaks Socket.IO (Engine.IO v4 over
    /// a WebSocket), and the chat messages travel as its events.
    pub socketio: bool,
}

impl Target {
    /// A TCP connection to the target, from `source` if given (a loopback
    /// address of its own, for more than 64K connections), with
    /// `TCP_NODELAY` set.
    pub async fn tcp(&self, source: Option<Ipv4Addr>) -> Result<TcpStream, String> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| format!("socket: {e}"))?;
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        Ok(stream)
    }

    /// Parses `ws://HOST:PORT/PATH`; only loopback hosts are accepted.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("`{url}`: only ws:// URLs are supported"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("`{url}`: give a port, e.g. ws://127.0.0.1:3000/ws"))?;
        let ip: IpAddr = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            host => host
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|e| format!("`{url}`: host `{host}`: {e}"))?,
        };
        if !ip.is_loopback() {
            return Err(format!(
                "`{url}`: this tool only drives servers on loopback addresses"
            ));
        }
        let port: u16 = port.parse().map_err(|e| format!("`{url}`: port: {e}"))?;
        let path = rest.find('/').map_or("/", |at| &rest[at..]);
        let socketio = path.starts_with("/socket.io/");
        let url = if socketio && !path.contains("EIO=") {
            format!("ws://{authority}/socket.io/?EIO=4&transport=websocket")
        } else {
            url.to_owned()
        };
        Ok(Self {
            url,
            addr: SocketAddr::new(ip, port),
            socketio,
        })
    }

    /// The text of a client message, in this server's dialect: the chat
    /// protocol's JSON object, or that object as a Socket.IO event
    /// (`42["say",{...}]`).
    fn message(&self, event: &str, body: Value) -> String {
        if self.socketio {
            format!("42{}", serde_json::json!([event, body]))
        } else {
            let mut body = body;
            body["type"] = Value::String(event.to_owned());
            body.to_string()
        }
    }

    pub fn join(&self, room: &str) -> String {
        self.message("join", serde_json::json!({"room": room}))
    }

    pub fn say(&self, room: &str, text: &str) -> String {
        self.message("say", serde_json::json!({"room": room, "text": text}))
    }

    pub fn echo(&self, text: &str) -> String {
        self.message("echo", serde_json::json!({"text": text}))
    }
}

/// An Engine.IO ping (`2`) is answered with a pong (`3`), or the server
/// drops the connection after its ping timeout.
pub fn is_engineio_ping(text: &str) -> bool {
    text == "2"
}

/// Opens the Socket.IO session of a new connection: the Engine.IO open
/// packet (`0{...}`), then a connect to the default namespace (`40`),
/// answered by `40{...}`.
async fn socketio_handshake(ws: &mut Ws) -> Result<(), String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let next_text = async |ws: &mut Ws| loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed during the Socket.IO handshake".to_owned()),
        }
    };
    let open = next_text(ws).await?;
    if !open.starts_with('0') {
        return Err(format!("expected an Engine.IO open packet, got {open}"));
    }
    ws.send(Message::Text("40".into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let text = next_text(ws).await?;
        if text.starts_with("40") {
            return Ok(());
        }
        if text.starts_with("44") {
            return Err(format!("namespace refused: {text}"));
        }
    }
}

/// Which source address connection `i` of a run uses.
#[derive(Clone, Copy, Debug)]
pub struct Sources {
    per_addr: usize,
    spread: bool,
}

impl Sources {
    /// A plan for `count` connections: the kernel's choice while one
    /// address's ephemeral ports suffice, else 127.0.0.2, .3, ... each
    /// holding at most `per_addr` connections.
    pub fn plan(count: usize, target: &Target) -> Self {
        let per_addr = ephemeral_ports().saturating_sub(2_000).max(1_000);
        Self {
            per_addr,
            spread: count > per_addr && target.addr.is_ipv4(),
        }
    }

    pub fn addresses(&self, count: usize) -> usize {
        if self.spread {
            count.div_ceil(self.per_addr)
        } else {
            1
        }
    }

    pub fn source(&self, i: usize) -> Option<Ipv4Addr> {
        if !self.spread {
            return None;
        }
        let k = u8::try_from(2 + i / self.per_addr).unwrap_or(254).min(254);
        Some(Ipv4Addr::new(127, 0, 0, k))
    }
}

/// How many ephemeral ports one source address has.
fn ephemeral_ports() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse::<usize>().ok());
            Some(it.next()??.abs_diff(it.next()??) + 1)
        })
        .unwrap_or(28_232)
}

/// Opens a WebSocket to `target`, from `source` if given, with a read
/// buffer of `read_buffer` bytes; fails after `within`.
pub async fn connect(
    target: &Target,
    source: Option<Ipv4Addr>,
    read_buffer: usize,
    within: Duration,
) -> Result<Ws, String> {
    connect_offering(target, source, read_buffer, within, None).await
}

/// [`connect`] asking for the subprotocol `offered` (e.g. `chat.v1.msgpack`);
/// fails if the server does not select it.
pub async fn connect_offering(
    target: &Target,
    source: Option<Ipv4Addr>,
    read_buffer: usize,
    within: Duration,
    offered: Option<&str>,
) -> Result<Ws, String> {
    let attempt = async {
        let stream = target.tcp(source).await?;
        let config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(0)
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("request: {e}"))?;
        if let Some(offered) = offered {
            let value = offered.parse().map_err(|e| format!("subprotocol: {e}"))?;
            request
                .headers_mut()
                .insert("sec-websocket-protocol", value);
        }
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        if target.socketio {
            socketio_handshake(&mut ws).await?;
        }
        Ok(ws)
    };
    tokio::time::timeout(within, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no connection within {within:?}")))
}

/// The JSON text of a client message.
pub fn join(room: &str) -> String {
    serde_json::json!({"type": "join", "room": room}).to_string()
}

pub fn say(room: &str, text: &str) -> String {
    serde_json::json!({"type": "say", "room": room, "text": text}).to_string()
}

pub fn echo(text: &str) -> String {
    serde_json::json!({"type": "echo", "text": text}).to_string()
}

/// The `text` field of a server frame, found without a full JSON parse
/// (the load tool must not be the bottleneck); `None` if absent. Texts made
/// by this tool hold no characters that JSON escapes.
pub fn text_field(frame: &str) -> Option<&str> {
    let start = frame.find("\"text\":\"")? + 8;
    let len = frame[start..].find('"')?;
    Some(&frame[start..start + len])
}

/// The `text` field of a server frame in MessagePack (a map with the key
/// `text` and a string value), found without decoding the frame: the
/// string's bytes. Keys are the JSON's field names, so `text` is the fixstr
/// `\xa4text`; `None` if absent.
pub fn packed_text_field(frame: &[u8]) -> Option<&[u8]> {
    let at = frame.windows(5).position(|w| w == b"\xa4text")? + 5;
    let rest = &frame[at..];
    let (&marker, rest) = rest.split_first()?;
    let (len, rest) = match marker {
        0xa0..=0xbf => (usize::from(marker & 0x1f), rest),
        0xd9 => (usize::from(*rest.first()?), rest.get(1..)?),
        0xda => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            rest.get(2..)?,
        ),
        0xdb => (
            u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            rest.get(4..)?,
        ),
        _ => return None,
    };
    rest.get(..len)
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert_eq!(
            Target::parse("ws://127.0.0.1:3000/ws").unwrap().addr.port(),
            3000
        );
        assert!(Target::parse("ws://localhost:1/ws").is_ok());
        assert!(Target::parse("ws://10.0.0.1:3000/ws").is_err());
        assert!(Target::parse("http://127.0.0.1:3000/").is_err());
    }

    #[test]
    fn socketio_targets_speak_events() {
        let plain = Target::parse("ws://127.0.0.1:3000/ws").unwrap();
        assert!(!plain.socketio);
        assert_eq!(
            serde_json::from_str::<Value>(&plain.join("r")).unwrap(),
            serde_json::json!({"type": "join", "room": "r"})
        );
        let sio = Target::parse("ws://127.0.0.1:3004/socket.io/").unwrap();
        assert!(sio.socketio);
        assert_eq!(
            sio.url,
            "ws://127.0.0.1:3004/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(sio.say("r", "hi"), r#"42["say",{"room":"r","text":"hi"}]"#);
    }

    #[test]
    fn sources_spread_only_past_one_address() {
        let target = Target::parse("ws://127.0.0.1:3000/ws").unwrap();
        let small = Sources::plan(100, &target);
        assert_eq!((small.addresses(100), small.source(99)), (1, None));
        let big = Sources::plan(200_000, &target);
        assert!(big.addresses(200_000) > 1);
        assert_eq!(big.source(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
    }

    #[test]
    fn finds_the_packed_text() {
        for len in [3, 40, 300, 70_000] {
            let text = "7 123 ".to_owned() + &"x".repeat(len);
            let value =
                serde_json::json!({"type": "said", "room": "r", "text": text, "from": "#1"});
            let mut packed = Vec::new();
            // The server's transcoding: JSON objects become named maps.
            use serde::Serialize as _;
            value
                .serialize(&mut rmp_serde::Serializer::new(&mut packed))
                .unwrap();
            assert_eq!(packed_text_field(&packed), Some(text.as_bytes()));
        }
        assert_eq!(packed_text_field(b"\x81\xa4type\xa1x"), None);
    }

    #[test]
    fn finds_the_text() {
        let frame = r##"{"type":"said","room":"r","text":"7 123 xx","from":"#1"}"##;
        assert_eq!(text_field(frame), Some("7 123 xx"));
        assert_eq!(text_field(r#"{"type":"x"}"#), None);
    }
}
