//! A real WebSocket client whose frames a reader task collects, so the
//! driver can look at every client at once and cut any of them.

use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Default)]
struct Inbox {
    frames: Vec<Value>,
    close: Option<(u16, String)>,
    ended: bool,
}

/// What arrived since the last look.
pub struct News {
    pub frames: Vec<Value>,
    pub close: Option<(u16, String)>,
    pub ended: bool,
}

pub struct Peer {
    sink: SplitSink<Ws, Message>,
    inbox: Arc<Mutex<Inbox>>,
    reader: JoinHandle<()>,
    seen: usize,
}

impl Peer {
    pub async fn connect(url: &str) -> Result<Peer, String> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|error| format!("connect to {url}: {error}"))?;
        // Dropped without a close frame, the connection is reset: a cut.
        if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            tcp.set_zero_linger().unwrap();
        }
        let (sink, mut stream) = ws.split();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let reader = tokio::spawn({
            let inbox = Arc::clone(&inbox);
            async move {
                while let Some(frame) = stream.next().await {
                    match frame {
                        Ok(Message::Text(text)) => {
                            let value = serde_json::from_str(&text)
                                .unwrap_or_else(|_| Value::String(text.to_string()));
                            inbox.lock().frames.push(value);
                        }
                        Ok(Message::Close(frame)) => {
                            inbox.lock().close = Some(match frame {
                                Some(CloseFrame { code, reason }) => {
                                    (code.into(), reason.to_string())
                                }
                                None => (1005, String::new()),
                            });
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                inbox.lock().ended = true;
            }
        });
        Ok(Peer {
            sink,
            inbox,
            reader,
            seen: 0,
        })
    }

    pub async fn send(&mut self, message: &Value) -> Result<(), String> {
        self.sink
            .send(Message::text(message.to_string()))
            .await
            .map_err(|error| format!("send failed: {error}"))
    }

    pub fn news(&mut self) -> News {
        let inbox = self.inbox.lock();
        let frames = inbox.frames[self.seen..].to_vec();
        self.seen = inbox.frames.len();
        News {
            frames,
            close: inbox.close.clone(),
            ended: inbox.ended,
        }
    }

    /// The TCP connection reset, no close frame.
    pub fn cut(self) {
        self.reader.abort();
        drop(self.sink);
    }

    /// A close frame, then the server's answer (briefly awaited).
    pub async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.reader).await;
        self.reader.abort();
    }
}
