//! The history of every room of one node: bounded logs of stamped frames,
//! and the indexes that find the oldest message and the least recently
//! written room across all of them in O(log n).

#[cfg(feature = "engine")]
mod cluster;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::{Limits, Position, Resume, Unrecovered};
use crate::id::ConnId;
use crate::wire::frame::{self, Wire};

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
    /// What every log costs, frames and bookkeeping (see [`Log::cost`]):
    /// what `history_memory` bounds.
    memory: usize,
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
    #[cfg(feature = "engine")]
    diverged: std::collections::HashSet<Arc<str>>,
    /// The buffers of frames pushed out that nothing else held, by
    /// capacity, to hold the next frames: memory that cycles through the
    /// history stays with it, rather than going back to the allocator of
    /// the thread that freed it and being allocated anew from another
    /// (glibc's per-thread arenas each kept up to the whole cap).
    spare: BTreeMap<usize, Vec<Vec<u8>>>,
    /// Their capacity, at most `spare_limit`: [`SPARE_SHARE`] of
    /// `history_memory`.
    spare_bytes: usize,
    spare_limit: usize,
}

/// The share of `history_memory` that buffers kept for reuse may take,
/// beside it.
const SPARE_SHARE: usize = 8;

struct Log {
    epoch: Arc<str>,
    /// The latest offset given (0: none yet).
    head: u64,
    entries: VecDeque<Entry>,
    /// Bytes of the entries' frames (what `history_bytes` bounds).
    bytes: usize,
    /// The sizes of their allocations.
    allocated: usize,
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
    /// The size of the frame's allocation.
    size: usize,
}

/// What one kept message costs beside its frame's allocation: the
/// allocator's header and rounding, and the shared buffer's header. Its
/// slot in the log is counted with the log's capacity.
const ENTRY_COST: usize = 48;

/// What one room's log costs beside its name, its epoch and its entries:
/// its slot in the map of rooms (counted three times: the map is kept at
/// least about a third full), its keys in the two indexes, and the
/// allocations of its name and epoch.
const LOG_COST: usize = 3 * std::mem::size_of::<(Arc<str>, Log)>() + 2 * 64 + 2 * 32;

impl Log {
    fn first_offset(&self) -> u64 {
        self.entries.front().map_or(self.head + 1, |e| e.offset)
    }

    /// The memory this log holds for `name`, as `history_memory` counts it.
    fn cost(&self, name: &str) -> usize {
        LOG_COST
            + name.len()
            + self.epoch.len()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.allocated
            + self.entries.len() * ENTRY_COST
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
            store: Mutex::new(Store {
                spare_limit: limits.memory / SPARE_SHARE,
                ..Store::default()
            }),
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
        let epoch = Arc::clone(&log.epoch);
        let (wire, size) = store.stamp(body, &epoch, offset);
        let held = &store.rooms.get(&name).expect("just found").held;
        let delivered = deliver(&wire, held);
        self.keep(&mut store, &name, offset, (wire.clone(), size), now);
        (delivered, wire)
    }

    /// Completes when a cluster copy's live fan-out moves; create it before
    /// the [`History::step`] that found [`Step::Behind`].
    pub(crate) fn live_moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.live_moved.notified()
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

    /// Records the stamped `wire` (of an allocation of `size` bytes) at
    /// `offset` of `name`'s log, the log's head from now on, and trims.
    fn keep(
        &self,
        store: &mut Store,
        name: &Arc<str>,
        offset: u64,
        (wire, size): (Wire, usize),
        now: Instant,
    ) {
        let seq = store.next_seq();
        let len = wire.len();
        if store.rooms[name].entries.is_empty() {
            store_oldest(store, seq, name);
        }
        let log = store.rooms.get_mut(name).expect("just found");
        let before = log.cost(name);
        log.head = offset;
        let previous = std::mem::replace(&mut log.written, seq);
        log.entries.push_back(Entry {
            offset,
            seq,
            at: now,
            wire,
            size,
        });
        log.bytes += len;
        log.allocated += size;
        store.memory = store.memory - before + log.cost(name);
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
        store.fit(self.limits.memory, Some(name));
    }

    fn local_epoch(&self, store: &mut Store) -> String {
        store.created += 1;
        let epoch = format!("{:016x}-{}", self.nonce, store.created);
        debug_assert!(epoch.len() <= frame::MAX_EPOCH);
        epoch
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

    /// The memory history holds, all rooms together.
    #[cfg(test)]
    fn memory(&self) -> usize {
        self.store.lock().memory
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
        let log = Log {
            epoch: Arc::from(epoch),
            head: 0,
            entries: VecDeque::new(),
            bytes: 0,
            allocated: 0,
            written: 0,
            trimmed_through: 0,
            expired_through: 0,
            remote: false,
            held: Vec::new(),
            live: 0,
        };
        // Room for the new log first: many rooms cost memory too.
        store.fit(self.limits.memory.saturating_sub(log.cost(room)), None);
        let name: Arc<str> = Arc::from(room);
        let log = store.insert(&name, log);
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
        let before = log.cost(name);
        let Some(entry) = log.entries.pop_front() else {
            return;
        };
        log.bytes -= entry.wire.len();
        log.allocated -= entry.size;
        match why {
            Removal::Trimmed => log.trimmed_through = entry.offset,
            Removal::Expired => log.expired_through = entry.offset,
        }
        // A log that held many messages gives their slots back.
        if log.entries.capacity() > 16 && log.entries.len() < log.entries.capacity() / 4 {
            log.entries.shrink_to(log.entries.len() * 2);
        }
        let next = log.entries.front().map(|e| e.seq);
        self.memory = self.memory - before + log.cost(name);
        self.oldest.remove(&entry.seq);
        self.recycle(entry.wire);
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
        self.insert(
            name,
            Log {
                epoch: Arc::from(epoch),
                head,
                entries: VecDeque::new(),
                bytes: 0,
                allocated: 0,
                written: 0,
                trimmed_through: head,
                expired_through: 0,
                remote,
                held,
                live: head,
            },
        );
    }

    /// `body` (of [`frame::encode_kept`] or [`frame::body_of`]) stamped,
    /// in the smallest kept buffer that holds it, at most a quarter larger,
    /// if there is one; and the size of the frame's allocation.
    fn stamp(&mut self, body: Vec<u8>, epoch: &str, offset: u64) -> (Wire, usize) {
        let need = body.len() + frame::stamp_len(epoch, offset);
        let body = match self.spare.range_mut(need..=need + need / 4).next() {
            Some((&capacity, buffers)) => {
                let mut buffer = buffers.pop().expect("no empty lists are kept");
                if buffers.is_empty() {
                    self.spare.remove(&capacity);
                }
                self.spare_bytes -= capacity;
                buffer.extend_from_slice(&body);
                buffer
            }
            None => body,
        };
        let size = body.capacity();
        (frame::stamp(body, epoch, offset), size)
    }

    /// Keeps the buffer of a frame pushed out for the next frames, if
    /// nothing else holds it and the kept buffers have room.
    fn recycle(&mut self, wire: Wire) {
        let Ok(mut frame) = wire.try_into_mut() else {
            return;
        };
        frame.clear();
        let mut buffer = Vec::from(frame);
        buffer.clear();
        let capacity = buffer.capacity();
        while self.spare_bytes + capacity > self.spare_limit {
            // Full: the smallest kept buffer makes room (an allocator
            // serves small ones best), unless it is this one.
            let Some(mut smallest) = self.spare.first_entry().filter(|e| *e.key() < capacity)
            else {
                return;
            };
            let dropped = smallest.get_mut().pop().map_or(0, |b| b.capacity());
            if smallest.get().is_empty() {
                smallest.remove();
            }
            self.spare_bytes -= dropped;
        }
        if self.spare_bytes + capacity <= self.spare_limit {
            self.spare_bytes += capacity;
            self.spare.entry(capacity).or_default().push(buffer);
        }
    }

    /// Adds `log`, as just written, for `name`, which has none.
    fn insert(&mut self, name: &Arc<str>, mut log: Log) -> &mut Log {
        log.written = self.next_seq();
        self.written.insert(log.written, Arc::clone(name));
        self.memory += log.cost(name);
        self.rooms.entry(Arc::clone(name)).or_insert(log)
    }

    /// Removes the oldest until the logs cost at most `limit`: the node's
    /// oldest message, or, before it, a log not written to since then
    /// (empty, as its messages would be older; its epoch goes with it). Not
    /// the log of `keep`, nor one a replay holds members of.
    fn fit(&mut self, limit: usize, keep: Option<&Arc<str>>) {
        while self.memory > limit {
            let oldest = self
                .oldest
                .first_key_value()
                .map(|(&seq, name)| (seq, Arc::clone(name)));
            let idle = self
                .written
                .iter()
                .find(|(_, name)| {
                    keep.is_none_or(|keep| keep != *name) && self.rooms[*name].held.is_empty()
                })
                .map(|(&seq, name)| (seq, Arc::clone(name)));
            match (idle, oldest) {
                (Some((written, idle)), oldest)
                    if oldest.as_ref().is_none_or(|&(first, _)| written < first) =>
                {
                    self.drop_log(&idle);
                }
                (_, Some((_, oldest))) => self.pop_front(&oldest, Removal::Trimmed),
                (_, None) => break,
            }
        }
    }

    /// Forgets `name`'s log, its epoch with it.
    fn drop_log(&mut self, name: &Arc<str>) {
        if let Some(log) = self.rooms.remove(name) {
            self.memory -= log.cost(name);
            if let Some(first) = log.entries.front() {
                self.oldest.remove(&first.seq);
            }
            self.written.remove(&log.written);
            // A map that held many rooms gives their slots back.
            if self.rooms.capacity() > 64 && self.rooms.len() < self.rooms.capacity() / 2 {
                self.rooms
                    .shrink_to(self.rooms.len() + self.rooms.len() / 4);
            }
        }
    }
}
