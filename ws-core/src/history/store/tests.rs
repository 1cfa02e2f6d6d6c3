use super::*;
use std::time::Duration;

fn limits() -> Limits {
    Limits {
        count: 3,
        ttl: None,
        stream_bytes: 1 << 20,
        memory: 1 << 20,
        streams: 100,
    }
}

/// A history of up to 1,000 messages per room, in `memory` bytes and
/// `streams` rooms at most.
fn bounded(memory: usize, streams: usize) -> History {
    History::new(Limits {
        count: 1000,
        memory,
        streams,
        ..limits()
    })
}

/// A history with `n` messages recorded in room `a`, and its epoch.
fn written(n: usize) -> (History, Arc<str>) {
    let history = History::new(limits());
    let epoch = at(&history, "a", None).epoch;
    for n in 0..n {
        record(&history, "a", &n.to_string());
    }
    (history, epoch)
}

fn body(text: &str) -> Vec<u8> {
    frame::encode_kept(&serde_json::json!({"type": "said", "text": text})).unwrap()
}

fn payload(wire: &Wire) -> serde_json::Value {
    serde_json::from_slice(&wire[2..]).unwrap()
}

fn record(history: &History, room: &str, text: &str) -> Wire {
    history.record(room, body(text), |_, _| ()).1
}

fn at(history: &History, room: &str, since: Option<(&str, u64)>) -> Resume {
    let since = since.map(|(epoch, offset)| Position {
        epoch: epoch.into(),
        offset,
    });
    history.resume(room, since.as_ref()).0
}

#[test]
fn offsets_count_per_room_and_frames_carry_them() {
    let history = History::new(limits());
    let a1 = payload(&record(&history, "a", "x"));
    let b1 = payload(&record(&history, "b", "y"));
    let a2 = payload(&record(&history, "a", "z"));
    assert_eq!(
        (a1["offset"].as_u64(), a2["offset"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(b1["offset"], 1);
    assert_eq!(a1["type"], "said");
    assert_eq!(a1["epoch"], a2["epoch"]);
    assert_ne!(a1["epoch"], b1["epoch"]);
}

#[test]
fn each_reason_is_told() {
    let (history, epoch) = written(5);
    // Offsets 3..=5 are kept.
    let resume = at(&history, "a", Some((&epoch, 2)));
    assert!(resume.recovered && resume.offset == 5);
    let resume = at(&history, "a", Some((&epoch, 1)));
    assert_eq!(resume.reason, Some(Unrecovered::TooFarBehind));
    let resume = at(&history, "a", Some(("other", 4)));
    assert_eq!(resume.reason, Some(Unrecovered::EpochChanged));
    let resume = at(&history, "a", Some((&epoch, 6)));
    assert_eq!(resume.reason, Some(Unrecovered::EpochChanged));

    let history = History::new(Limits {
        ttl: Some(Duration::from_millis(1)),
        ..limits()
    });
    let epoch = at(&history, "a", None).epoch;
    record(&history, "a", "old");
    std::thread::sleep(Duration::from_millis(5));
    let resume = at(&history, "a", Some((&epoch, 0)));
    assert_eq!(resume.reason, Some(Unrecovered::Expired));
    assert_eq!(history.store.lock().rooms["a"].bytes, 0);
}

#[test]
fn memory_and_streams_are_bounded() {
    let history = bounded(10_000, 10);
    for n in 0..1_000 {
        record(&history, &format!("room{}", n % 50), &"x".repeat(100));
        assert!(history.memory() <= 10_000);
        assert!(history.store.lock().rooms.len() <= 10);
    }
    consistent(&history);
}

/// The indexes and the count of memory agree with the logs.
fn consistent(history: &History) {
    let store = history.store.lock();
    assert_eq!(
        store.oldest.len(),
        store
            .rooms
            .values()
            .filter(|l| !l.entries.is_empty())
            .count()
    );
    assert_eq!(store.written.len(), store.rooms.len());
    assert_eq!(
        store.memory,
        store
            .rooms
            .iter()
            .map(|(name, log)| log.cost(name))
            .sum::<usize>()
    );
}

/// The costs README and the `history` docs give stay true.
#[test]
fn documented_costs() {
    let room = LOG_COST + "9f2c41d07a3b6e58-1".len();
    assert!(
        (600..=720).contains(&room),
        "about 670 bytes per room: {room}"
    );
    assert_eq!(ENTRY_COST, 48);
}

/// Rooms cost memory beside their messages (issue 21): a peer that
/// writes a short message into each of many rooms of long names, or
/// many messages into one room and then into others, is bounded by
/// `history_memory` alone, whatever `history_streams` allows.
#[test]
fn rooms_count_against_the_memory() {
    const MEMORY: usize = 100_000;
    let history = bounded(MEMORY, 10_000);
    let long = "r".repeat(1000);
    for n in 0..5_000 {
        record(&history, &format!("{long}{n}"), "x");
        assert!(history.memory() <= MEMORY);
    }
    let rooms = history.store.lock().rooms.len();
    assert!(rooms < MEMORY / 1000, "{rooms} rooms of 1,000 bytes");
    consistent(&history);

    // A log that held many messages gives their slots back once they
    // are pushed out, and a log idle since before the oldest message
    // goes before it.
    for n in 0..1000 {
        record(&history, "busy", &n.to_string());
    }
    assert!(history.store.lock().rooms["busy"].entries.len() > 100);
    for n in 0..5_000 {
        record(&history, &format!("other{}", n % 20), "x");
        assert!(history.memory() <= MEMORY);
    }
    let store = history.store.lock();
    assert!(
        store
            .rooms
            .get("busy")
            .is_none_or(|log| log.entries.capacity() <= 32)
    );
    assert!(store.rooms.len() <= 20, "the idle rooms were dropped");
    drop(store);
    consistent(&history);
}

#[test]
fn a_replay_walks_to_the_head_then_joins() {
    let (history, epoch) = written(3);
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        match history.step("a", &epoch, cursor, 2, |_| seen.push(0)) {
            Step::Batch(frames, last) => {
                seen.extend(
                    frames
                        .iter()
                        .map(|f| payload(f)["offset"].as_u64().unwrap()),
                );
                cursor = last;
            }
            Step::Joined => break,
            Step::Lost | Step::Pending | Step::Behind => panic!("lost"),
        }
    }
    assert_eq!(seen, [1, 2, 3, 0]);
}

#[cfg(feature = "engine")]
/// A resume's read can reach Redis's head before this node's
/// subscription brings the same messages. Those still go to the members
/// that follow live (found by `ws-bench drops` on two nodes: every
/// member of the node missed them), and the resumer, which replayed
/// them, joins the live fan-out only once it is there: none twice.
#[test]
fn a_resume_read_ahead_of_the_subscription_still_reaches_live_members() {
    let history = History::new(limits());
    let body = |n: u64| body(&n.to_string());
    let live = |offset: u64, held: &mut Vec<ConnId>| {
        history.mirror("a", "E", offset, &body(offset), |_, skip| {
            *held = skip.to_vec();
        })
    };
    let mut skipped = Vec::new();
    assert!(live(1, &mut skipped).is_some());
    // A resumer on this node reads offsets 2 and 3 from Redis first.
    let resumer = ConnId::from_raw(7);
    history.hold("a", resumer);
    history.seed("a", "E", 3, 2, vec![body(2), body(3)], || 2);
    let step = |cursor| history.step("a", "E", cursor, 8, |held| held.retain(|&c| c != resumer));
    let Step::Batch(frames, 3) = step(1) else {
        panic!("the replay holds 2 and 3")
    };
    assert_eq!(frames.len(), 2);
    assert!(matches!(step(3), Step::Behind), "2 and 3 not yet live here");
    // The subscription brings 2 and 3: the live members get them, the
    // resumer (still held) does not.
    assert!(live(2, &mut skipped).is_some());
    assert_eq!(skipped, [resumer]);
    assert!(live(3, &mut skipped).is_some());
    assert!(live(3, &mut skipped).is_none(), "once only");
    assert!(matches!(step(3), Step::Joined));
    assert!(live(4, &mut skipped).is_some());
    assert!(skipped.is_empty(), "the resumer follows live from 4 on");

    // With no member here following live, nobody is owed what the read
    // brought (the subscription began after it): the resumer joins at
    // the head at once.
    let other = ConnId::from_raw(8);
    history.hold("b", other);
    history.seed("b", "E", 5, 4, vec![body(4), body(5)], || 1);
    let step = |cursor| history.step("b", "E", cursor, 8, |held| held.retain(|&c| c != other));
    assert!(matches!(step(3), Step::Batch(_, 5)));
    assert!(matches!(step(5), Step::Joined));
}
