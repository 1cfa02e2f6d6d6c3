//! `codec`: bytes of one message in JSON and in MessagePack, as ws-core
//! sends them (MessagePack transcoded from the JSON, objects as maps keyed
//! by field name), and the CPU time of each encoding in this process.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{Value, json};

use crate::args::{ArgError, Flags};

pub const USAGE: &str = "\
ws-bench codec: the bytes of a message in JSON and in MessagePack (as
ws-core sends them), and nanoseconds per encoding, in this process.

USAGE: ws-bench codec --sample ws-bench/samples/message-2k.json [options]

  --sample F          a JSON message                                 required
  --rounds N          encodings timed per figure                     [20000]

Two shapes are reported: the sample as a message of its own (its fields
are the message's), and the sample as the `text` of the chat example's
`said` (a string holding JSON, as `fanout --text-file` sends it).
";

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    let f = Flags::parse(args, &["sample", "rounds"], &[], USAGE)?;
    let path: String = f.required("sample")?;
    let rounds: u32 = f.get("rounds", 20_000u32)?.max(1);
    let sample =
        std::fs::read_to_string(&path).map_err(|e| ArgError::Bad(format!("{path}: {e}")))?;
    let object: Value =
        serde_json::from_str(&sample).map_err(|e| ArgError::Bad(format!("{path}: {e}")))?;
    let said = json!({
        "type": "said", "room": "bench", "text": format!("1 1764505980127000000 {}", object),
        "from": "#12", "epoch": "5f0c1a2b", "offset": 1234,
    });
    let mut shapes = serde_json::Map::new();
    for (name, value) in [("object", &object), ("said_text", &said)] {
        let json = serde_json::to_vec(value).map_err(|e| ArgError::Bad(e.to_string()))?;
        let packed = pack(&json)?;
        let back: Value =
            rmp_serde::from_slice(&packed).map_err(|e| ArgError::Bad(e.to_string()))?;
        if &back != value {
            return Err(ArgError::Bad(format!(
                "{name}: MessagePack did not round-trip"
            )));
        }
        let json_ns = time(rounds, || {
            serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
        });
        let pack_ns = time(rounds, || pack(&json).map(|v| v.len()).unwrap_or(0));
        let (json_frame, packed_frame) = (framed(json.len()), framed(packed.len()));
        eprintln!(
            "codec {name}: JSON {} B, MessagePack {} B ({:.3}x); per message: JSON encode {json_ns:.0} ns, transcode to MessagePack {pack_ns:.0} ns",
            json_frame,
            packed_frame,
            packed_frame as f64 / json_frame as f64,
        );
        shapes.insert(
            name.to_owned(),
            json!({
                "json_frame_bytes": json_frame,
                "msgpack_frame_bytes": packed_frame,
                "msgpack_to_json": (packed_frame as f64 / json_frame as f64 * 1000.0).round() / 1000.0,
                "json_encode_ns": json_ns.round(),
                "msgpack_transcode_ns": pack_ns.round(),
            }),
        );
    }
    Ok(json!({"bench": "codec", "sample": path, "shapes": shapes}))
}

/// The JSON as MessagePack, the way ws-core transcodes it.
fn pack(json: &[u8]) -> Result<Vec<u8>, ArgError> {
    let mut out = Vec::with_capacity(json.len());
    let mut from = serde_json::Deserializer::from_slice(json);
    serde_transcode::transcode(&mut from, &mut rmp_serde::Serializer::new(&mut out))
        .map_err(|e| ArgError::Bad(e.to_string()))?;
    Ok(out)
}

/// A payload's bytes on the wire: with a server frame's header.
fn framed(len: usize) -> usize {
    len + match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// Mean nanoseconds of `f` over `rounds` calls, after a warm-up.
fn time(rounds: u32, mut f: impl FnMut() -> usize) -> f64 {
    for _ in 0..rounds / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds)
}
