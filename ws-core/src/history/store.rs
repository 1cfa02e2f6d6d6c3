//! The history of every room of one node: bounded logs of stamped frames,
//! and the indexes that find the oldest message and the least recently
//! written room across all of them in O(log n).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::{Limits, Position, Resume, Unrecovered};
use crate::frame::{self, Wire};
use crate::id::ConnId;

/// The histories of one node's rooms.
pub(crate) struct History {
    limits: Limits,
    /// Random per process: epochs of a restarted process never repeat.
    nonce: u64,
    store: Mutex<Store>,
    /// Woken when a cluster copy's live fan-out moves (see [`Step::Behind`]).
    live_moved: tokio::sync::Notify,
}

#[derive(Default)]
struct Store {
    rooms: HashMap<Arc<str>, Log>,
    /// Bytes of every log's frames.
    bytes: usize,
    /// The sequence number of each non-empty log's first entry: the first
    /// key is the node's oldest message.
    oldest: BTreeMap<u64, Arc<str>>,
    /// The sequence number of each log's last write: the first key is the
    /// room to drop when `history_streams` is reached.
    written: BTreeMap<u64, Arc<str>>,
    /// Counts records and creations: a total order of events on this node.
    seq: u64,
    /// Logs created, for their epochs.
    created: u64,
    /// Rooms recorded here alone while the cluster backend was out of
    /// reach: their history in the cluster misses those messages.
    diverged: HashSet<Arc<str>>,
}

struct Log {
    epoch: Arc<str>,
    /// The latest offset given (0: none yet).
    head: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// This log's key in `Store::written`.
    written: u64,
    /// The highest offset removed by count or bytes, and by age.
    trimmed_through: u64,
    expired_through: u64,
    /// Whether the offsets come from a cluster backend (and this log is
    /// this node's copy of the room's history there).
    remote: bool,
    /// Members of the room whose replay has not caught up yet: the live
    /// fan-out of a cluster skips them, their replay delivers instead.
    held: Vec<ConnId>,
    /// Of a cluster's copy: the latest offset handed to the live fan-out.
    /// A resume's read can bring the copy's head past it (Redis answers
    /// the read before this node's subscription brings the same messages),
    /// and the members that follow live still need those messages.
    live: u64,
}

struct Entry {
    offset: u64,
    seq: u64,
    at: Instant,
    wire: Wire,
}

impl Log {
    fn first_offset(&self) -> u64 {
        self.entries.front().map_or(self.head + 1, |e| e.offset)
    }
}

/// What one step of a replay finds.
pub(crate) enum Step {
    /// Frames after the cursor, and the offset of the last of them.
    Batch(Vec<Wire>, u64),
    /// The cursor is the room's head: the connection was joined (or the
    /// join failed, the connection closing).
    Joined,
    /// Frames after the cursor are gone (or the room's history was
    /// replaced): the replay cannot go on.
    Lost,
    /// More to replay, and no room to queue it now.
    Pending,
    /// Replayed to the head of this node's copy, which a resume's read
    /// brought past the live fan-out: join once the fan-out is there.
    Behind,
}

#[derive(Clone, Copy)]
enum Removal {
    Trimmed,
    Expired,
}

impl History {
    pub(crate) fn new(limits: Limits) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // A fresh random key per `RandomState`, mixed with the clock in case
        // the platform's randomness is weak.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Self {
            limits,
            nonce: hasher.finish(),
            store: Mutex::new(Store::default()),
            live_moved: tokio::sync::Notify::new(),
        }
    }

    /// Gives the next offset of `room` to `body` (an encoded message),
    /// stamps and records it, and hands the frame to `deliver` before any
    /// other message of the room can be: members see offsets in order.
    /// `deliver` gets the members to skip too: those whose replay has not
    /// caught up (it delivers to them instead).
    pub(crate) fn record<T>(
        &self,
        room: &str,
        body: Vec<u8>,
        deliver: impl FnOnce(&Wire, &[ConnId]) -> T,
    ) -> (T, Wire) {
        let now = Instant::now();
        let mut store = self.store.lock();
        let (name, log) = self.log_mut(&mut store, room);
        if log.remote {
            // The cluster backend is out of reach: this node goes on under
            // an epoch of its own, which no position in the cluster's
            // history can be mistaken for.
            let epoch = self.local_epoch(&mut store);
            store.restart(&name, &epoch, 0, false);
        }
        let log = store.rooms.get_mut(&name).expect("just found");
        let offset = log.head + 1;
        let wire = frame::stamp(body, &log.epoch, offset);
        let delivered = deliver(&wire, &log.held);
        self.keep(&mut store, &name, offset, wire.clone(), now);
        (delivered, wire)
    }

    /// Takes a message of `room` whose place a cluster backend gave (its
    /// JSON `payload`, at `offset` of `epoch`) into this node's copy of the
    /// room's history, and hands the stamped frame to `deliver`, with the
    /// members to skip, before any later one: members see offsets in order.
    /// `None` for a message already taken (by a resume's read).
    pub(crate) fn mirror<T>(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        payload: &[u8],
        deliver: impl FnOnce(&Wire, &[ConnId]) -> T,
    ) -> Option<T> {
        let now = Instant::now();
        let mut store = self.store.lock();
        let (name, log) = self.log_mut(&mut store, room);
        let same = log.remote && *log.epoch == *epoch;
        if same && offset <= log.live {
            return None;
        }
        if same && offset <= log.head {
            // Read by a resume before it came here: in the copy already,
            // not yet with the members that follow live.
            let wire = frame::stamp(frame::body_of(payload), epoch, offset);
            let delivered = deliver(&wire, &log.held);
            log.live = offset;
            drop(store);
            self.live_moved.notify_waiters();
            return Some(delivered);
        }
        if same && log.live < log.head {
            // The subscription is past the copy's head: what the read
            // brought and it did not was published before this node
            // listened, when no member here followed live.
            log.live = log.head;
        }
        if !same || offset != log.head + 1 {
            // A history this node had not followed up to here: its copy
            // starts at this message (a resume further back reads Redis).
            store.restart(&name, epoch, offset - 1, true);
        }
        let wire = frame::stamp(frame::body_of(payload), epoch, offset);
        let delivered = deliver(&wire, &store.rooms[&name].held);
        self.keep(&mut store, &name, offset, wire, now);
        if let Some(log) = store.rooms.get_mut(&name) {
            log.live = offset;
        }
        drop(store);
        self.live_moved.notify_waiters();
        Some(delivered)
    }

    /// Makes this node's copy of `room`'s history hold `bodies` (JSON, from
    /// offset `from` on) up to `head` of `epoch`, as a cluster backend read
    /// them, keeping what arrived live after `head`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster resumes only
    ///
    /// `members` counts the room's members on this node (called under the
    /// history's lock): those beyond the held ones follow live, and are
    /// still owed what the read brought before the subscription did.
    pub(crate) fn seed(
        &self,
        room: &str,
        epoch: &str,
        head: u64,
        from: u64,
        bodies: Vec<Vec<u8>>,
        members: impl FnOnce() -> usize,
    ) {
        let now = Instant::now();
        let mut store = self.store.lock();
        let (name, log) = self.log_mut(&mut store, room);
        let same = log.remote && *log.epoch == *epoch;
        if same && log.first_offset() <= from && log.head >= head {
            return; // this node followed the room: it has all of it
        }
        // What the live fan-out has had stays had. With no member here
        // following live (or a copy of another epoch) nobody is owed the
        // read messages, and the subscription may never bring them: it
        // began with the first member.
        let followers = members() > log.held.len();
        let live = if same && followers { log.live } else { head };
        let later: Vec<(u64, Wire)> = if same {
            log.entries
                .iter()
                .filter(|entry| entry.offset > head)
                .map(|entry| (entry.offset, entry.wire.clone()))
                .collect()
        } else {
            Vec::new()
        };
        store.restart(&name, epoch, from - 1, true);
        for (offset, body) in (from..).zip(bodies) {
            let wire = frame::stamp(frame::body_of(&body), epoch, offset);
            self.keep(&mut store, &name, offset, wire, now);
        }
        let log = &store.rooms[&name];
        if log.head < head {
            // Nothing to replay: the copy starts after the head.
            store.restart(&name, epoch, head, true);
        }
        for (offset, wire) in later {
            self.keep(&mut store, &name, offset, wire, now);
        }
        if let Some(log) = store.rooms.get_mut(&name) {
            log.live = live.min(log.head);
        }
    }

    /// `room` was recorded here alone: its history in the cluster must not
    /// be resumed from any more.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster only
    pub(crate) fn diverge(&self, room: &str) {
        let mut store = self.store.lock();
        if !store.diverged.contains(room) {
            store.diverged.insert(Arc::from(room));
        }
    }

    /// The rooms [`History::diverge`]d since the last
    /// [`History::converged`].
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster only
    pub(crate) fn diverged(&self) -> Vec<Arc<str>> {
        self.store.lock().diverged.iter().cloned().collect()
    }

    /// The cluster's histories of `rooms` were ended (a new epoch follows).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster only
    pub(crate) fn converged(&self, rooms: &[Arc<str>]) {
        let mut store = self.store.lock();
        for room in rooms {
            store.diverged.remove(room);
        }
    }

    /// Completes when a cluster copy's live fan-out moves; create it before
    /// the [`History::step`] that found [`Step::Behind`].
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster resumes only
    pub(crate) fn live_moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.live_moved.notified()
    }

    /// The most messages one resume replays: the history's count.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster resumes only
    pub(crate) fn replay_max(&self) -> usize {
        self.limits.count
    }

    /// Holds `conn`'s live messages of `room` back until its replay
    /// releases it (see [`History::step`]).
    pub(crate) fn hold(&self, room: &str, conn: ConnId) {
        let mut store = self.store.lock();
        let (_, log) = self.log_mut(&mut store, room);
        log.held.push(conn);
    }

    pub(crate) fn release(&self, room: &str, conn: ConnId) {
        if let Some(log) = self.store.lock().rooms.get_mut(room) {
            log.held.retain(|&held| held != conn);
        }
    }

    /// Records the stamped `wire` at `offset` of `name`'s log, the log's
    /// head from now on, and trims.
    fn keep(&self, store: &mut Store, name: &Arc<str>, offset: u64, wire: Wire, now: Instant) {
        let seq = store.next_seq();
        let len = wire.len();
        if store.rooms[name].entries.is_empty() {
            store_oldest(store, seq, name);
        }
        let log = store.rooms.get_mut(name).expect("just found");
        log.head = offset;
        let previous = std::mem::replace(&mut log.written, seq);
        log.entries.push_back(Entry {
            offset,
            seq,
            at: now,
            wire,
        });
        log.bytes += len;
        store.bytes += len;
        store.written.remove(&previous);
        store.written.insert(seq, Arc::clone(name));
        // Per room: count and bytes.
        loop {
            let log = &store.rooms[name];
            if log.entries.len() <= self.limits.count && log.bytes <= self.limits.stream_bytes {
                break;
            }
            store.pop_front(name, Removal::Trimmed);
        }
        self.expire(store, now);
        // Per node: the oldest messages of any room go first.
        while store.bytes > self.limits.memory {
            let Some((_, oldest)) = store.oldest.first_key_value() else {
                break;
            };
            let oldest = Arc::clone(oldest);
            store.pop_front(&oldest, Removal::Trimmed);
        }
    }

    fn local_epoch(&self, store: &mut Store) -> String {
        store.created += 1;
        let epoch = format!("{:016x}-{}", self.nonce, store.created);
        debug_assert!(epoch.len() <= frame::MAX_EPOCH);
        epoch
    }

    /// The rooms whose log here is a copy of a cluster backend's history.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster only
    pub(crate) fn remote_rooms(&self) -> Vec<Arc<str>> {
        let store = self.store.lock();
        store
            .rooms
            .iter()
            .filter(|(_, log)| log.remote)
            .map(|(name, _)| Arc::clone(name))
            .collect()
    }

    /// Whether this node's log of `room` is its copy of a cluster backend's
    /// history (rather than what it recorded alone).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster resumes only
    pub(crate) fn is_remote(&self, room: &str) -> bool {
        self.store
            .lock()
            .rooms
            .get(room)
            .is_some_and(|log| log.remote)
    }

    /// The answer to a join of `room` from `since`, and the offset the
    /// replay starts after.
    pub(crate) fn resume(&self, room: &str, since: Option<&Position>) -> (Resume, u64) {
        let mut store = self.store.lock();
        self.expire(&mut store, Instant::now());
        let (_, log) = self.log_mut(&mut store, room);
        let head = log.head;
        let answer = |recovered, reason| Resume {
            epoch: Arc::clone(&log.epoch),
            offset: head,
            recovered,
            reason,
        };
        let Some(since) = since else {
            return (answer(false, None), head);
        };
        if *since.epoch != *log.epoch || since.offset > head {
            return (answer(false, Some(Unrecovered::EpochChanged)), head);
        }
        let next = since.offset + 1;
        if next < log.first_offset() {
            // Removal runs oldest first, so an offset above everything that
            // count or bytes removed went by age.
            let reason = if next > log.trimmed_through && next <= log.expired_through {
                Unrecovered::Expired
            } else {
                Unrecovered::TooFarBehind
            };
            return (answer(false, Some(reason)), head);
        }
        (answer(true, None), since.offset)
    }

    /// The next step of a replay of `room` under `epoch` after `cursor`: at
    /// most `max` frames, or, at the head, `join` run under the lock that
    /// orders the room's messages, so that no message falls between the
    /// replay and the live fan-out.
    pub(crate) fn step(
        &self,
        room: &str,
        epoch: &str,
        cursor: u64,
        max: usize,
        join: impl FnOnce(&mut Vec<ConnId>),
    ) -> Step {
        let mut store = self.store.lock();
        self.expire(&mut store, Instant::now());
        let Some(log) = store.rooms.get_mut(room).filter(|log| *log.epoch == *epoch) else {
            return Step::Lost;
        };
        if cursor == log.head {
            if log.remote && log.live < log.head {
                // Joined now, the live fan-out would hand it what it just
                // replayed: it waits until the fan-out is at the head.
                return Step::Behind;
            }
            join(&mut log.held);
            return Step::Joined;
        }
        let first = log.first_offset();
        if cursor + 1 < first {
            return Step::Lost;
        }
        if max == 0 {
            return Step::Pending;
        }
        let skip = usize::try_from(cursor + 1 - first).unwrap_or(usize::MAX);
        let frames: Vec<Wire> = log
            .entries
            .iter()
            .skip(skip)
            .take(max)
            .map(|entry| entry.wire.clone())
            .collect();
        let last = cursor + frames.len() as u64;
        Step::Batch(frames, last)
    }

    /// Bytes of history held, all rooms together.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.store.lock().bytes
    }

    /// The log of `room`, created (and the least recently written one
    /// dropped, past `history_streams`) if there is none.
    fn log_mut<'s>(&self, store: &'s mut Store, room: &str) -> (Arc<str>, &'s mut Log) {
        if let Some((name, _)) = store.rooms.get_key_value(room) {
            let name = Arc::clone(name);
            let log = store.rooms.get_mut(room).expect("just found");
            return (name, log);
        }
        while store.rooms.len() >= self.limits.streams {
            let Some((_, victim)) = store.written.pop_first() else {
                break;
            };
            store.drop_log(&victim);
        }
        let epoch = self.local_epoch(store);
        let seq = store.next_seq();
        let name: Arc<str> = Arc::from(room);
        store.written.insert(seq, Arc::clone(&name));
        let log = store.rooms.entry(Arc::clone(&name)).or_insert(Log {
            epoch: Arc::from(epoch),
            head: 0,
            entries: VecDeque::new(),
            bytes: 0,
            written: seq,
            trimmed_through: 0,
            expired_through: 0,
            remote: false,
            held: Vec::new(),
            live: 0,
        });
        (name, log)
    }

    /// Removes messages older than `history_ttl`, the oldest first.
    fn expire(&self, store: &mut Store, now: Instant) {
        let Some(ttl) = self.limits.ttl else {
            return;
        };
        while let Some((_, name)) = store.oldest.first_key_value() {
            let name = Arc::clone(name);
            let old = store.rooms[&name]
                .entries
                .front()
                .is_some_and(|entry| now.duration_since(entry.at) >= ttl);
            if !old {
                break;
            }
            store.pop_front(&name, Removal::Expired);
        }
    }
}

fn store_oldest(store: &mut Store, seq: u64, name: &Arc<str>) {
    store.oldest.insert(seq, Arc::clone(name));
}

impl Store {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Removes the first message of `name`'s log, keeping the indexes.
    fn pop_front(&mut self, name: &Arc<str>, why: Removal) {
        let Some(log) = self.rooms.get_mut(name) else {
            return;
        };
        let Some(entry) = log.entries.pop_front() else {
            return;
        };
        log.bytes -= entry.wire.len();
        match why {
            Removal::Trimmed => log.trimmed_through = entry.offset,
            Removal::Expired => log.expired_through = entry.offset,
        }
        let next = log.entries.front().map(|e| e.seq);
        self.bytes -= entry.wire.len();
        self.oldest.remove(&entry.seq);
        if let Some(next) = next {
            self.oldest.insert(next, Arc::clone(name));
        }
    }

    /// Starts `name`'s log again, empty, at `head` of `epoch`; it keeps
    /// the members it holds.
    fn restart(&mut self, name: &Arc<str>, epoch: &str, head: u64, remote: bool) {
        let held = self
            .rooms
            .get_mut(name)
            .map(|log| std::mem::take(&mut log.held))
            .unwrap_or_default();
        self.drop_log(name);
        let seq = self.next_seq();
        self.written.insert(seq, Arc::clone(name));
        self.rooms.insert(
            Arc::clone(name),
            Log {
                epoch: Arc::from(epoch),
                head,
                entries: VecDeque::new(),
                bytes: 0,
                written: seq,
                trimmed_through: head,
                expired_through: 0,
                remote,
                held,
                live: head,
            },
        );
    }

    /// Forgets `name`'s log, its epoch with it.
    fn drop_log(&mut self, name: &Arc<str>) {
        if let Some(log) = self.rooms.remove(name) {
            self.bytes -= log.bytes;
            if let Some(first) = log.entries.front() {
                self.oldest.remove(&first.seq);
            }
            self.written.remove(&log.written);
        }
    }
}

#[cfg(test)]
mod tests {
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

    fn body(text: &str) -> Vec<u8> {
        frame::encode_body(&serde_json::json!({"type": "said", "text": text}), 64).unwrap()
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
        let history = History::new(limits());
        let epoch = at(&history, "a", None).epoch;
        for n in 0..5 {
            record(&history, "a", &n.to_string());
        }
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
        assert_eq!(history.bytes(), 0);
    }

    #[test]
    fn memory_and_streams_are_bounded() {
        let history = History::new(Limits {
            count: 1000,
            memory: 10_000,
            streams: 10,
            ..limits()
        });
        for n in 0..1_000 {
            record(&history, &format!("room{}", n % 50), &"x".repeat(100));
            assert!(history.bytes() <= 10_000);
            assert!(history.store.lock().rooms.len() <= 10);
        }
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
            store.bytes,
            store.rooms.values().map(|l| l.bytes).sum::<usize>()
        );
    }

    #[test]
    fn a_replay_walks_to_the_head_then_joins() {
        let history = History::new(limits());
        let epoch = at(&history, "a", None).epoch;
        for n in 0..3 {
            record(&history, "a", &n.to_string());
        }
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
        let step =
            |cursor| history.step("a", "E", cursor, 8, |held| held.retain(|&c| c != resumer));
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
}
