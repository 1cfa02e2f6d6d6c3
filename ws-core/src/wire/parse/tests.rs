use proptest::prelude::*;

use super::*;
use crate::wire::close::{encode_close, truncate_reason};
use crate::wire::deflate::{Window, compress};
use crate::wire::frame::{payload_start, put_header, unmask};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn limits(deflate: bool) -> Limits {
    Limits {
        max_message_size: 1 << 20,
        max_fragments: 0,
        fragment_timeout: None,
        deflate,
        now: Instant::now,
    }
}

fn masked(payload: &[u8]) -> Vec<u8> {
    let mut bytes = payload.to_vec();
    unmask(&mut bytes, MASK);
    bytes
}

/// A client frame: `first` (FIN, RSV1, opcode) and `payload`, masked.
fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut room = [0u8; 10];
    let start = put_header(&mut room, 0, payload.len());
    let mut frame = room[start..].to_vec();
    frame[0] = first;
    frame[1] |= MASKED;
    frame.extend_from_slice(&mask);
    let mut body = payload.to_vec();
    unmask(&mut body, mask);
    frame.extend_from_slice(&body);
    frame
}

/// Feeds `payload` to [`check_arrived`] in chops of the given lengths,
/// as reads would bring it; the `seen` after each, or the chop that
/// failed.
fn chops(payload: &[u8], lengths: &[usize], continues: bool) -> Result<Vec<usize>, usize> {
    let wire = masked(payload);
    let mut seen = 0;
    let mut arrived = Vec::new();
    let mut seens = Vec::new();
    let mut at = 0;
    for (i, &n) in lengths.iter().enumerate() {
        arrived.extend_from_slice(&wire[at..at + n]);
        at += n;
        seen = check_arrived(&mut arrived, seen, MASK, continues).map_err(|()| i)?;
        assert_eq!(&arrived[..seen], &payload[..seen], "unmasked up to seen");
        assert_eq!(&arrived[seen..], &wire[seen..at], "masked after seen");
        seens.push(seen);
    }
    Ok(seens)
}

/// Autobahn 6.4.3: `κόσμε` (valid), then U+110000 encoded (never valid),
/// then `edited`, in chops of one frame: the second chop fails.
#[test]
fn invalid_utf8_fails_at_the_chop_that_holds_it() {
    let part1 = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes();
    let part2 = [0xf4, 0x90, 0x80, 0x80];
    let part3 = b"edited";
    let payload = [part1, &part2, part3].concat();
    let lengths = [part1.len(), part2.len(), part3.len()];
    assert_eq!(chops(&payload, &lengths, false), Err(1));
    // 6.4.4: the same payload cut at byte 12 and after one more byte,
    // which is where the sequence turns invalid.
    let lengths = [12, 1, payload.len() - 13];
    assert_eq!(chops(&payload, &lengths, false), Err(1));
}

/// A character cut by the end of a chop waits for the next one, masked
/// again, in every phase of the mask.
#[test]
fn a_character_cut_between_chops_waits_for_the_rest() {
    let payload = "a\u{1f600}bc\u{e9}\u{20ac}d".as_bytes();
    for cut in 1..payload.len() {
        let seens = chops(payload, &[cut, payload.len() - cut], false).unwrap();
        assert_eq!(seens[1], payload.len());
        assert!(std::str::from_utf8(&payload[..seens[0]]).is_ok());
    }
    let byte_at_a_time = vec![1; payload.len()];
    assert_eq!(
        *chops(payload, &byte_at_a_time, false)
            .unwrap()
            .last()
            .unwrap(),
        payload.len()
    );
}

fn text_partial(data: &[u8]) -> Partial {
    Partial {
        text: true,
        compressed: false,
        data: BytesMut::from(data),
        checked: 0,
        frames: 1,
        began: None,
    }
}

/// Autobahn 6.4.1-6.4.2: of a fragmented text message, the fragment
/// that holds an invalid sequence fails; a sequence cut at a fragment's
/// end waits for the next, unless the fragment was the last.
#[test]
fn fragments_fail_at_the_one_that_holds_an_invalid_sequence() {
    let mut partial = text_partial(b"ok \xf0\x9f");
    assert!(partial.check(false).is_ok(), "a cut sequence waits");
    assert_eq!(partial.checked, 3);
    partial.data.extend_from_slice(b"\x98");
    assert!(partial.check(false).is_ok(), "still cut");
    partial
        .data
        .extend_from_slice(b"\x80 and \xf4\x90\x80\x80 more");
    assert!(
        partial.check(false).is_err(),
        "fails before the last fragment"
    );
    let mut last = text_partial(b"cut at the end \xe2\x82");
    assert!(
        last.check(true).is_err(),
        "the last fragment may not cut one"
    );
}

/// A continuation frame may begin with the end of a character the
/// previous fragment cut; more than 3 continuation bytes never end one.
#[test]
fn a_continuation_may_begin_inside_a_character() {
    let rest = [0x98, 0x80, b'o', b'k'];
    assert_eq!(chops(&rest, &[1, 1, 2], true), Ok(vec![0, 0, 4]));
    assert_eq!(chops(&rest, &[1, 1, 2], false), Err(0));
    let bad = [0x80, 0x80, 0x80, 0x80, b'x'];
    assert_eq!(chops(&bad, &[3, 2], true), Err(1));
    assert_eq!(chops(b"\xffok", &[3], true), Err(0));
}

/// Each violation, with the close it is answered with.
#[test]
fn violations_close_with_their_codes() {
    let text = |first: u8, payload: &[u8]| client_frame(first, payload, MASK);
    let cases: [(Vec<u8>, u16); 12] = [
        (text(FIN | 0x20 | OPCODE_TEXT, b"x"), 1002),
        (text(FIN | RSV1 | OPCODE_TEXT, b"x"), 1002),
        (text(FIN | 0x3, b"x"), 1002),
        (text(FIN | OPCODE_CONTINUATION, b"x"), 1002),
        (text(OPCODE_PING, b""), 1002),
        (text(FIN | OPCODE_PING, &[0; 126]), 1002),
        (text(FIN | OPCODE_CLOSE, &[3]), 1002),
        (text(FIN | OPCODE_CLOSE, &1005u16.to_be_bytes()), 1002),
        (text(FIN | OPCODE_CLOSE, b"\x03\xe8\xff"), 1007),
        (text(FIN | OPCODE_TEXT, b"\xff"), 1007),
        (
            [text(OPCODE_TEXT, b"a"), text(FIN | OPCODE_TEXT, b"b")].concat(),
            1002,
        ),
        (
            {
                let mut unmasked = text(FIN | OPCODE_TEXT, b"x");
                unmasked[1] &= !MASKED;
                unmasked
            },
            1002,
        ),
    ];
    for (bytes, code) in cases {
        let (parsed, close) = parse_chopped(&bytes, &[], &limits(false));
        assert!(parsed.is_empty(), "{bytes:?}");
        assert_eq!(close.map(|close| close.code), Some(code), "{bytes:?}");
    }
    let small = Limits {
        max_message_size: 4,
        max_fragments: 2,
        ..limits(true)
    };
    let too_big = text(FIN | OPCODE_BINARY, b"12345");
    assert_eq!(parse_chopped(&too_big, &[], &small).1.unwrap().code, 1009);
    let fragments = [
        text(OPCODE_BINARY, b"1"),
        text(OPCODE_CONTINUATION, b"2"),
        text(FIN | OPCODE_CONTINUATION, b"3"),
    ]
    .concat();
    assert_eq!(parse_chopped(&fragments, &[], &small).1.unwrap().code, 1008);
    let bomb = compress(&encode(OPCODE_TEXT, &[b'a'; 64]), Window::Bits15).unwrap();
    let bomb = text(bomb[0], &bomb[payload_start(&bomb)..]);
    assert_eq!(parse_chopped(&bomb, &[], &small).1.unwrap().code, 1009);
}

/// A fragmented message open longer than `fragment_timeout` fails at the
/// next frame, by the clock it is given.
#[test]
fn a_message_open_too_long_fails_at_its_next_frame() {
    fn late() -> Instant {
        // Each read of this clock is an hour after the previous one.
        thread_local!(static NOW: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) });
        NOW.with(|now| {
            let next = now
                .get()
                .map_or_else(Instant::now, |t| t + Duration::from_secs(3600));
            now.set(Some(next));
            next
        })
    }
    let slow = Limits {
        fragment_timeout: Some(Duration::from_secs(1)),
        now: late,
        ..limits(false)
    };
    let bytes = [
        client_frame(OPCODE_TEXT, b"a", MASK),
        client_frame(FIN | OPCODE_CONTINUATION, b"b", MASK),
    ]
    .concat();
    assert_eq!(parse_chopped(&bytes, &[], &slow).1.unwrap().code, 1008);
    assert_eq!(parse_chopped(&bytes, &[], &limits(false)).1, None);
}

/// A message a test sends: text or binary, its payload, how it is cut
/// into fragments, whether it is compressed; or a ping.
#[derive(Clone, Debug)]
enum Sent {
    Data {
        text: bool,
        payload: Vec<u8>,
        fragments: usize,
        compressed: bool,
    },
    Ping(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    let data = (
        any::<bool>(),
        prop_oneof![
            any::<String>().prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..300),
        ],
        1..4usize,
        any::<bool>(),
    )
        .prop_map(|(text, payload, fragments, compressed)| {
            let payload = if text {
                String::from_utf8_lossy(&payload).into_owned().into_bytes()
            } else {
                payload
            };
            Sent::Data {
                text,
                payload,
                fragments,
                compressed,
            }
        });
    prop_oneof![
        4 => data,
        1 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Sent::Ping),
    ]
}

/// The client frames of `sent`, masked with `mask`.
fn frames_of(sent: &Sent, mask: [u8; 4]) -> Vec<u8> {
    let (text, payload, fragments, compressed) = match sent {
        Sent::Ping(payload) => return client_frame(FIN | OPCODE_PING, payload, mask),
        Sent::Data {
            text,
            payload,
            fragments,
            compressed,
        } => (*text, payload, *fragments, *compressed),
    };
    let opcode = if text { OPCODE_TEXT } else { OPCODE_BINARY };
    let (rsv1, body) = if compressed {
        let frame = compress(&encode(opcode, payload), Window::Bits15).unwrap();
        (RSV1, frame[payload_start(&frame)..].to_vec())
    } else {
        (0, payload.clone())
    };
    let size = body.len().div_ceil(fragments).max(1);
    let parts: Vec<&[u8]> = if body.is_empty() {
        vec![&[]]
    } else {
        body.chunks(size).collect()
    };
    let last = parts.len() - 1;
    let mut bytes = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let first = match i {
            0 => rsv1 | opcode,
            _ => OPCODE_CONTINUATION,
        };
        let fin = if i == last { FIN } else { 0 };
        bytes.extend(client_frame(fin | first, part, mask));
    }
    bytes
}

proptest! {
    /// Any messages, fragmented, compressed or not, masked with any mask
    /// and arriving in any chops, parse back to themselves, each ping with
    /// its pong, and the close after them with its reply.
    #[test]
    fn client_frames_parse_back_to_their_messages(
        messages in proptest::collection::vec(sent(), 0..6),
        mask in any::<[u8; 4]>(),
        chops in proptest::collection::vec(0..40usize, 0..20),
        code in prop_oneof![Just(1000u16), 3000..5000u16],
        reason in "\\PC{0,40}",
    ) {
        let mut bytes: Vec<u8> = messages.iter().flat_map(|m| frames_of(m, mask)).collect();
        let close = CloseInfo::new(code, truncate_reason(&reason));
        let payload = encode_close(&close);
        bytes.extend(client_frame(FIN | OPCODE_CLOSE, &payload[payload_start(&payload)..], mask));
        let (parsed, failure) = parse_chopped(&bytes, &chops, &limits(true));
        prop_assert_eq!(failure, None);
        prop_assert_eq!(parsed.len(), messages.len() + 1);
        for (sent, parsed) in messages.iter().zip(&parsed) {
            match (sent, &parsed.message) {
                (Sent::Ping(payload), Message::Ping(got)) => {
                    prop_assert_eq!(got, payload);
                    prop_assert_eq!(parsed.reply.as_ref(), Some(&encode(OPCODE_PONG, payload)));
                }
                (Sent::Data { text: true, payload, compressed, .. }, Message::Text(got)) => {
                    prop_assert_eq!(got.as_bytes(), payload.as_slice());
                    prop_assert_eq!(parsed.inflated.is_some(), *compressed);
                }
                (Sent::Data { text: false, payload, compressed, .. }, Message::Binary(got)) => {
                    prop_assert_eq!(got, payload);
                    prop_assert_eq!(parsed.inflated.is_some(), *compressed);
                }
                (sent, got) => prop_assert!(false, "sent {:?}, got {:?}", sent, got),
            }
        }
        let last = parsed.last().unwrap();
        prop_assert_eq!(&last.message, &Message::Close(Some(close.clone())));
        prop_assert_eq!(last.reply.as_ref(), Some(&close_reply(Some(&close))));
    }

    /// Any bytes: no panic; messages, then at most one failure, after
    /// which nothing more is parsed; the same however they are chopped.
    #[test]
    fn any_bytes_parse_or_fail_the_same_in_any_chops(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        chops in proptest::collection::vec(0..20usize, 0..10),
        deflate in any::<bool>(),
    ) {
        let whole = parse_chopped(&bytes, &[], &limits(deflate));
        let chopped = parse_chopped(&bytes, &chops, &limits(deflate));
        let messages = |parsed: &[Parsed]| parsed.iter().map(|p| format!("{:?}", p.message)).collect::<Vec<_>>();
        prop_assert_eq!(messages(&whole.0), messages(&chopped.0));
        prop_assert_eq!(whole.1, chopped.1);
    }
}
