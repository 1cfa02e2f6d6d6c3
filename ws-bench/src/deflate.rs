//! A subscriber that negotiates permessage-deflate (RFC 7692), which
//! tokio-tungstenite cannot: the handshake and the frames by hand (see
//! [`wire`](crate::wire)), compressed frames inflated with flate2. It also
//! counts the bytes of every frame it reads, so `fanout --deflate` reports
//! what a delivery costs on the wire.

use std::net::Ipv4Addr;
use std::time::Duration;

use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::client::Target;
use crate::wire::{self, CLOSE, PING, PONG, TEXT};

const OFFER: &str = "permessage-deflate; client_max_window_bits";
const MASK: [u8; 4] = [0x1f, 0x2e, 0x3d, 0x4c];

pub struct DeflateWs {
    stream: BufReader<TcpStream>,
    /// Whether the server agreed; if not, frames are plain.
    pub agreed: bool,
    /// Wire bytes (headers and payloads) of the text frames read.
    pub text_bytes: u64,
    inflater: Decompress,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl DeflateWs {
    pub async fn connect(
        target: &Target,
        source: Option<Ipv4Addr>,
        within: Duration,
    ) -> Result<Self, String> {
        let attempt = async {
            let mut stream = target.tcp(source).await?;
            let path = target
                .url
                .splitn(4, '/')
                .nth(3)
                .map_or("/".to_owned(), |p| format!("/{p}"));
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Extensions: {OFFER}\r\n\r\n",
                target.addr
            );
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut stream = BufReader::with_capacity(64 * 1024, stream);
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(stream.read_u8().await.map_err(|e| e.to_string())?);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            if !head.starts_with("HTTP/1.1 101") {
                return Err(format!("handshake: {}", head.lines().next().unwrap_or("")));
            }
            let agreed = wire::header_value(&head, "sec-websocket-extensions")
                .is_some_and(|v| v.starts_with("permessage-deflate"));
            Ok(Self {
                stream,
                agreed,
                text_bytes: 0,
                inflater: Decompress::new(false),
                buf: Vec::new(),
                out: Vec::new(),
            })
        };
        tokio::time::timeout(within, attempt)
            .await
            .unwrap_or_else(|_| Err(format!("no connection within {within:?}")))
    }

    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        let frame = wire::client_frame(TEXT, text.as_bytes(), MASK);
        self.stream
            .get_mut()
            .write_all(&frame)
            .await
            .map_err(|e| e.to_string())
    }

    /// The next text message, inflated; `None` when the connection ends.
    pub async fn next_text(&mut self) -> Option<&str> {
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await.ok()?;
            let len = match head[1] & 0x7f {
                126 => usize::from(self.stream.read_u16().await.ok()?),
                127 => usize::try_from(self.stream.read_u64().await.ok()?).ok()?,
                n => usize::from(n),
            };
            self.buf.resize(len, 0);
            self.stream.read_exact(&mut self.buf).await.ok()?;
            let header = match len {
                0..=125 => 2,
                126..=0xffff => 4,
                _ => 10,
            };
            match head[0] & 0x0f {
                TEXT => {
                    self.text_bytes += (header + len) as u64;
                    if head[0] & 0x40 == 0 {
                        return std::str::from_utf8(&self.buf).ok();
                    }
                    self.buf.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    // Not reset: a message compressed without context
                    // takeover refers to nothing before it, and the stream
                    // is at a block boundary after each sync flush.
                    let start = self.inflater.total_in();
                    self.out.clear();
                    self.out.reserve(len * 8 + 1024);
                    loop {
                        let taken = (self.inflater.total_in() - start) as usize;
                        self.inflater
                            .decompress_vec(
                                &self.buf[taken..],
                                &mut self.out,
                                FlushDecompress::Sync,
                            )
                            .ok()?;
                        if (self.inflater.total_in() - start) as usize == self.buf.len()
                            && self.out.len() < self.out.capacity()
                        {
                            break;
                        }
                        self.out.reserve(self.out.capacity());
                    }
                    return std::str::from_utf8(&self.out).ok();
                }
                PING => {
                    let pong = wire::client_frame(PONG, &self.buf, MASK);
                    self.stream.get_mut().write_all(&pong).await.ok()?;
                }
                CLOSE => return None,
                _ => {}
            }
        }
    }

    pub async fn close(&mut self) {
        let frame = wire::client_frame(CLOSE, &1000u16.to_be_bytes(), MASK);
        let _ = self.stream.get_mut().write_all(&frame).await;
    }
}
