//! Just enough of RFC 6455 by hand, for the raw baseline server and the
//! streaming client of `large`: the handshake's accept key, frame headers,
//! masking.

use base64::Engine as _;
use serde::Deserialize;
use sha1::{Digest, Sha1};

/// What a chat client sends, as the baseline servers decode it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Inbound {
    Join { room: String },
    Leave { room: String },
    Say { room: String, text: String },
    Echo { text: String },
}

pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A header's fields; `header_len` bytes precede the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    pub header_len: usize,
}

/// Parses a frame header at the start of `buf`; `None` if more bytes are needed.
pub fn parse_header(buf: &[u8]) -> Option<Header> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let key: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        mask,
        len,
        header_len: at,
    })
}

/// Appends a final frame's header (no mask) to `out`.
pub fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// A server frame: final, unmasked.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    put_header(&mut out, opcode, payload.len(), None);
    out.extend_from_slice(payload);
    out
}

/// A client frame: final, masked with `key`.
pub fn client_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    put_header(&mut out, opcode, payload.len(), Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], key);
    out
}

/// XORs `data` with the masking key (masking and unmasking are the same).
pub fn unmask(data: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let mut chunks = data.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// The value of header `name` (case-insensitive) in an HTTP head.
pub fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_example_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = client_frame(TEXT, &payload, [9, 8, 7, 6]);
            let h = parse_header(&frame).unwrap();
            assert_eq!((h.fin, h.opcode, h.len), (true, TEXT, len as u64));
            let mut body = frame[h.header_len..].to_vec();
            unmask(&mut body, h.mask.unwrap());
            assert_eq!(body, payload);
            let frame = server_frame(TEXT, &payload);
            let h = parse_header(&frame).unwrap();
            assert_eq!((h.mask, &frame[h.header_len..]), (None, &payload[..]));
        }
        assert_eq!(parse_header(&[0x81]), None);
        assert_eq!(parse_header(&[0x81, 126, 1]), None);
    }

    #[test]
    fn finds_headers() {
        let head = "GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: abc \r\n\r\n";
        assert_eq!(header_value(head, "sec-websocket-key"), Some("abc"));
        assert_eq!(header_value(head, "upgrade"), None);
    }
}
