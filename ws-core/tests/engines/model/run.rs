//! The reference model and the driver: each op is applied to the real
//! nodes and to the model, then what every client saw is compared with
//! what the model says it must have seen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::Peer;
use super::engine::{Engine, Node, PRESENCE_TTL, Services};
use super::ops::{Op, SLOTS};
use super::protocol::{HISTORY, WINDOW};
use super::switches;

/// How long a correlated message may wait for its answer.
const ANSWER: Duration = Duration::from_secs(5);
/// How long the nodes and clients may take to agree with the model after
/// an op (connections unregistered, presence written, messages delivered).
const SETTLE: Duration = Duration::from_secs(5);
/// Scheduling and Redis slack on top of the presence window.
const SLACK: Duration = Duration::from_millis(300);

/// What went wrong, at which step: `kind` groups failures so that a
/// shrink keeps the same bug.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: usize,
    pub kind: &'static str,
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} [{}]: {}", self.step, self.kind, self.what)
    }
}

type Checked<T = ()> = Result<T, (&'static str, String)>;

fn room_name(room: u8) -> String {
    format!("r{room}")
}

fn user_name(user: u8) -> String {
    format!("u{user}")
}

enum Kind {
    Join {
        room: String,
        since: Option<(String, u64)>,
    },
    Leave {
        room: String,
    },
    Say,
    Who,
}

struct Pending {
    kind: Kind,
    joined: Option<Value>,
}

#[derive(Debug)]
enum Answer {
    /// Handled; for a join, its `joined`.
    Ack(Option<Value>),
    /// An error frame with the id: its code.
    Refused(String),
    /// A declared reply.
    Reply(Value),
}

/// A connection's membership of a room, as it saw it.
struct Member {
    epoch: String,
    /// The offset of the next `said` it must get.
    next: u64,
    /// Its presence view: the join's listing and the diffs since.
    view: BTreeSet<String>,
    at: Instant,
    diffs: Vec<Value>,
    /// After a loss of history the next `said` may start a new epoch.
    reset: bool,
}

/// A live client connection, and everything it has been told so far.
struct Conn {
    peer: Peer,
    node: usize,
    user: Option<String>,
    rooms: BTreeMap<String, Member>,
    /// Diffs that came before the join's answer.
    early: BTreeMap<String, Vec<Value>>,
    pending: HashMap<u64, Pending>,
    answers: HashMap<u64, Answer>,
    /// Received `said`s (room, epoch, offset, text) not yet checked
    /// against the model.
    said: Vec<(String, String, u64, String)>,
    close: Option<(u16, String)>,
    ended: bool,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Conn {
    fn new(peer: Peer, node: usize, user: Option<String>) -> Conn {
        Conn {
            peer,
            node,
            user,
            rooms: BTreeMap::new(),
            early: BTreeMap::new(),
            pending: HashMap::new(),
            answers: HashMap::new(),
            said: Vec::new(),
            close: None,
            ended: false,
        }
    }

    /// Takes what arrived, in order.
    fn pump(&mut self) -> Checked {
        let news = self.peer.news();
        for frame in news.frames {
            self.absorb(frame)?;
        }
        if self.close.is_none() {
            self.close = news.close;
        }
        self.ended |= news.ended;
        Ok(())
    }

    fn absorb(&mut self, frame: Value) -> Checked {
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        let room = frame["room"].as_str().unwrap_or_default().to_owned();
        let mut id = frame["id"].as_u64();
        if id.is_none() && kind == "error" && !switches::RATE_LIMITED_WITH_ID {
            id = self.pending.keys().min().copied();
        }
        match kind.as_str() {
            "joined" => {
                let Some(pending) = self.pending.values_mut().find(|p| {
                    matches!(&p.kind, Kind::Join { room: r, .. } if *r == room)
                        && p.joined.is_none()
                }) else {
                    return Err(("protocol", format!("a `joined` nobody asked for: {frame}")));
                };
                let Kind::Join { since, .. } = &pending.kind else {
                    unreachable!()
                };
                let epoch = frame["epoch"].as_str().unwrap_or_default().to_owned();
                let offset = frame["offset"].as_u64().unwrap_or_default();
                let recovered = frame["recovered"] == json!(true);
                let next = match since {
                    Some((_, since)) if recovered => since + 1,
                    _ => offset + 1,
                };
                pending.joined = Some(frame.clone());
                let mut member = Member {
                    epoch,
                    next,
                    view: strings(&frame["present"]).into_iter().collect(),
                    at: Instant::now(),
                    diffs: Vec::new(),
                    reset: false,
                };
                for diff in self.early.remove(&room).unwrap_or_default() {
                    apply(&mut member, diff);
                }
                self.rooms.insert(room, member);
            }
            "ack" | "error" | "present" => {
                let Some(id) = id else {
                    return Err((
                        "correlation",
                        format!("an answer without the message's id: {frame}"),
                    ));
                };
                let Some(pending) = self.pending.remove(&id) else {
                    return Err((
                        "correlation",
                        format!("an answer to no pending message (or a second one): {frame}"),
                    ));
                };
                let answer = match kind.as_str() {
                    "ack" => {
                        match &pending.kind {
                            Kind::Join { .. } if pending.joined.is_none() => {
                                return Err((
                                    "protocol",
                                    format!("a join acked without `joined`: {frame}"),
                                ));
                            }
                            Kind::Leave { room } => {
                                self.rooms.remove(room);
                            }
                            _ => {}
                        }
                        Answer::Ack(pending.joined)
                    }
                    "error" => {
                        if let Kind::Join { room, .. } = &pending.kind {
                            self.early.remove(room);
                            if pending.joined.is_some() {
                                return Err((
                                    "protocol",
                                    format!("a join answered `joined`, then refused: {frame}"),
                                ));
                            }
                        }
                        Answer::Refused(frame["code"].as_str().unwrap_or_default().to_owned())
                    }
                    _ => Answer::Reply(frame),
                };
                self.answers.insert(id, answer);
            }
            "said" => {
                let Some(member) = self.rooms.get_mut(&room) else {
                    return Err((
                        "history",
                        format!("a `said` of a room it is not in: {frame}"),
                    ));
                };
                let epoch = frame["epoch"].as_str().unwrap_or_default().to_owned();
                let offset = frame["offset"].as_u64().unwrap_or_default();
                if member.reset && epoch != member.epoch {
                    member.epoch.clone_from(&epoch);
                    member.next = offset;
                }
                member.reset = false;
                if epoch != member.epoch || offset != member.next {
                    return Err((
                        "history",
                        format!(
                            "expected offset {} of epoch {}, got {frame} (a gap, a repeat or \
                             a silent epoch change)",
                            member.next, member.epoch
                        ),
                    ));
                }
                member.next += 1;
                let text = frame["text"].as_str().unwrap_or_default().to_owned();
                self.said.push((room, epoch, offset, text));
            }
            "presence_diff" => {
                if let Some(member) = self.rooms.get_mut(&room) {
                    apply(member, frame);
                } else if self
                    .pending
                    .values()
                    .any(|p| matches!(&p.kind, Kind::Join { room: r, .. } if *r == room))
                {
                    self.early.entry(room).or_default().push(frame);
                } else {
                    return Err((
                        "presence",
                        format!("a `presence_diff` of a room it is not in: {frame}"),
                    ));
                }
            }
            _ => return Err(("protocol", format!("an unexpected frame: {frame}"))),
        }
        Ok(())
    }

    /// The position to resume each room from: the last `said` processed.
    fn positions(&self) -> BTreeMap<String, (String, u64)> {
        self.rooms
            .iter()
            .map(|(room, member)| (room.clone(), (member.epoch.clone(), member.next - 1)))
            .collect()
    }
}

fn apply(member: &mut Member, diff: Value) {
    for user in strings(&diff["joined"]) {
        member.view.insert(user);
    }
    for user in strings(&diff["left"]) {
        member.view.remove(&user);
    }
    member.diffs.push(diff);
}

enum Slot {
    Empty,
    Live(Box<Conn>),
    Gone {
        user: Option<String>,
        positions: BTreeMap<String, (String, u64)>,
    },
}

/// A room as the model knows it.
#[derive(Default)]
struct Room {
    /// `None` until a join tells it, and again after a loss of history.
    epoch: Option<String>,
    offset: u64,
    /// The text of each offset of the current epoch.
    texts: BTreeMap<u64, String>,
    /// Accepted while the epoch was unknown or in doubt: placed by the
    /// first delivery or join after.
    unplaced: Vec<String>,
    /// The history may have been lost (Redis paused: a node that noticed
    /// ends it when Redis is back): the next answer or delivery may show a
    /// new epoch, once.
    doubt: bool,
    /// Epochs that were lost: none may come back.
    lost: BTreeSet<String>,
}

impl Room {
    /// The history is certainly gone.
    fn lose(&mut self) {
        if let Some(epoch) = self.epoch.take() {
            self.lost.insert(epoch);
        }
        self.texts.clear();
        self.unplaced.clear();
        self.doubt = false;
    }

    /// The history may be gone.
    fn doubt(&mut self) {
        self.doubt = self.epoch.is_some();
    }

    fn settled(&self) -> bool {
        self.epoch.is_some() && !self.doubt
    }

    fn accept(&mut self, text: String) {
        if self.settled() {
            self.offset += 1;
            self.texts.insert(self.offset, text);
        } else {
            self.unplaced.push(text);
        }
    }

    /// A new epoch, seen in an answer or a delivery.
    fn renew(&mut self, epoch: &str) -> Checked {
        if self.lost.contains(epoch) {
            return Err(("history", format!("the lost epoch {epoch} came back")));
        }
        if let Some(old) = self.epoch.replace(epoch.to_owned()) {
            self.lost.insert(old);
        }
        self.texts.clear();
        self.doubt = false;
        Ok(())
    }

    /// What a `joined` says of the room.
    fn joined(&mut self, epoch: &str, offset: u64) -> Checked {
        match self.epoch.as_deref() {
            Some(known) if known == epoch => {
                let expected = self.offset + self.unplaced.len() as u64;
                if offset != expected {
                    return Err((
                        "history",
                        format!("joined {epoch} at offset {offset}, the model is at {expected}"),
                    ));
                }
                self.doubt = false;
                for text in std::mem::take(&mut self.unplaced) {
                    self.accept(text);
                }
            }
            Some(known) if !self.doubt => {
                return Err((
                    "history",
                    format!("the epoch changed from {known} to {epoch} with no loss"),
                ));
            }
            _ => {
                // What was accepted before is at offsets this answer
                // counts but the model cannot place: unchecked.
                self.renew(epoch)?;
                self.offset = offset;
                self.unplaced.clear();
            }
        }
        Ok(())
    }

    /// A delivery of a text accepted while the epoch was unknown or in
    /// doubt places it, and what was accepted with it.
    fn delivered(&mut self, epoch: &str, offset: u64, text: &str) -> Checked {
        if self.settled() {
            return Ok(());
        }
        let Some(i) = self.unplaced.iter().position(|t| t == text) else {
            return Ok(());
        };
        let first = offset - i as u64;
        if self.epoch.as_deref() == Some(epoch) {
            if first != self.offset + 1 {
                return Err((
                    "history",
                    format!(
                        "{text:?} at {epoch}/{offset}: the model has it at {}",
                        self.offset + 1 + i as u64
                    ),
                ));
            }
        } else {
            self.renew(epoch)?;
        }
        self.doubt = false;
        self.offset = first - 1;
        for text in std::mem::take(&mut self.unplaced) {
            self.accept(text);
        }
        Ok(())
    }
}

/// One run of a list of ops against fresh nodes of an engine.
pub struct Run {
    engine: Engine,
    services: Services,
    nodes: Vec<Option<Node>>,
    slots: Vec<Slot>,
    rooms: BTreeMap<String, Room>,
    /// When each (room, user) last came or went.
    transitions: BTreeMap<(String, String), Vec<Instant>>,
    /// Since when each (node, room) has had a member without a break: its
    /// presence events have been sampling since.
    occupied: BTreeMap<(usize, String), Instant>,
    next_id: u64,
    step: usize,
}

impl Run {
    pub async fn start(engine: Engine) -> Run {
        let services = Services::start(engine);
        let mut nodes = Vec::new();
        for _ in 0..engine.nodes() {
            nodes.push(Some(services.node().await));
        }
        Run {
            engine,
            services,
            nodes,
            slots: (0..SLOTS).map(|_| Slot::Empty).collect(),
            rooms: BTreeMap::new(),
            transitions: BTreeMap::new(),
            occupied: BTreeMap::new(),
            next_id: 1,
            step: 0,
        }
    }

    /// Runs every op, then the end checks; the first failure.
    pub async fn all(engine: Engine, ops: &[Op]) -> Result<(), Failure> {
        let mut run = Run::start(engine).await;
        for (step, op) in ops.iter().enumerate() {
            run.step = step;
            run.op(*op).await.map_err(|(kind, what)| Failure {
                step,
                kind,
                what: format!("`{op}`: {what}"),
            })?;
        }
        run.step = ops.len();
        run.finish().await.map_err(|(kind, what)| Failure {
            step: ops.len(),
            kind,
            what: format!("at the end: {what}"),
        })
    }

    fn live(&mut self, slot: u8) -> Option<&mut Conn> {
        match self.slots.get_mut(usize::from(slot))? {
            Slot::Live(conn) => Some(conn),
            _ => None,
        }
    }

    fn node(&self, node: u8) -> Option<&Node> {
        self.nodes.get(usize::from(node))?.as_ref()
    }

    /// Who is in `room`: the users of the live connections in it.
    fn truth(&self, room: &str) -> BTreeSet<String> {
        self.conns()
            .filter(|conn| conn.rooms.contains_key(room))
            .filter_map(|conn| conn.user.clone())
            .collect()
    }

    fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Live(conn) => Some(&**conn),
            _ => None,
        })
    }

    fn presence_snapshot(&self) -> BTreeSet<(String, String)> {
        self.conns()
            .flat_map(|conn| {
                conn.rooms
                    .keys()
                    .filter_map(|room| Some((room.clone(), conn.user.clone()?)))
            })
            .collect()
    }

    async fn op(&mut self, op: Op) -> Checked {
        let before = self.presence_snapshot();
        match op {
            Op::Connect { slot, node, user } => self.connect(slot, node, user).await?,
            Op::Join { slot, room } => {
                let room = room_name(room);
                if self
                    .live(slot)
                    .is_some_and(|c| !c.rooms.contains_key(&room))
                {
                    self.join(slot, &room, None).await?;
                }
            }
            Op::Leave { slot, room } => {
                let room = room_name(room);
                if self.live(slot).is_some_and(|c| c.rooms.contains_key(&room)) {
                    let id = self
                        .send(
                            slot,
                            json!({"type": "leave", "room": room}),
                            Kind::Leave { room },
                        )
                        .await?;
                    match self.answer(slot, id).await? {
                        Answer::Ack(_) => {}
                        Answer::Refused(code) if code == "rate_limited" => {}
                        other => return Err(("protocol", format!("leave answered {other:?}"))),
                    }
                }
            }
            Op::Say { slot, room } => self.say(slot, room, 1).await?,
            Op::Burst { slot, room, n } => self.say(slot, room, n).await?,
            Op::Who { slot, room } => self.who(slot, room).await?,
            Op::Cut { slot } => {
                if let Some(Slot::Live(mut conn)) = self
                    .slots
                    .get_mut(usize::from(slot))
                    .map(|s| std::mem::replace(s, Slot::Empty))
                {
                    conn.pump()?;
                    self.slots[usize::from(slot)] = Slot::Gone {
                        user: conn.user.clone(),
                        positions: conn.positions(),
                    };
                    conn.peer.cut();
                }
            }
            Op::Resume { slot, node } => self.resume(slot, node).await?,
            Op::Kick { user, node } => self.kick(user, node).await?,
            Op::Kill { node } => self.kill(node).await?,
            Op::RedisRestart => self.redis_restart().await?,
            Op::RedisPause { ms } => self.redis_pause(ms).await?,
            Op::Wait { ms } => tokio::time::sleep(Duration::from_millis(u64::from(ms))).await,
            Op::Settle => self.converge().await?,
        }
        self.settle().await?;
        let after = self.presence_snapshot();
        let now = Instant::now();
        for changed in before.symmetric_difference(&after) {
            self.transitions
                .entry(changed.clone())
                .or_default()
                .push(now);
        }
        let occupied: BTreeSet<(usize, String)> = self
            .conns()
            .flat_map(|conn| conn.rooms.keys().map(|room| (conn.node, room.clone())))
            .collect();
        self.occupied.retain(|key, _| occupied.contains(key));
        for key in occupied {
            self.occupied.entry(key).or_insert(now);
        }
        Ok(())
    }

    async fn connect(&mut self, slot: u8, node: u8, user: Option<u8>) -> Checked {
        if matches!(
            self.slots.get(usize::from(slot)),
            None | Some(Slot::Live(_))
        ) {
            return Ok(());
        }
        let Some(at) = self.node(node) else {
            return Ok(());
        };
        let user = user.map(user_name);
        let peer = Peer::connect(&at.url(user.as_deref()))
            .await
            .map_err(|e| ("connect", e))?;
        self.slots[usize::from(slot)] =
            Slot::Live(Box::new(Conn::new(peer, usize::from(node), user)));
        Ok(())
    }

    /// Sends `message` with a fresh id; the id.
    async fn send(&mut self, slot: u8, mut message: Value, kind: Kind) -> Checked<u64> {
        let id = self.next_id;
        self.next_id += 1;
        message["id"] = json!(id);
        let conn = self.live(slot).expect("a live slot");
        conn.pending.insert(id, Pending { kind, joined: None });
        conn.peer
            .send(&message)
            .await
            .map_err(|e| ("connection", format!("slot {slot}: {e}")))?;
        Ok(id)
    }

    /// Every live client's news, checked against the model.
    fn pump(&mut self) -> Checked {
        for (slot, state) in self.slots.iter_mut().enumerate() {
            if let Slot::Live(conn) = state {
                conn.pump().map_err(|(kind, what)| {
                    (
                        kind,
                        format!(
                            "slot {slot} ({:?} on node {}): {what}",
                            conn.user, conn.node
                        ),
                    )
                })?;
                // A node whose Redis connection was lost and is back closes
                // the members of its rooms with a Redis history: they may
                // have missed messages; their resume recovers them.
                if conn
                    .close
                    .as_ref()
                    .is_some_and(|(code, reason)| *code == 1013 && reason.contains("interrupted"))
                {
                    let Slot::Live(conn) = std::mem::replace(state, Slot::Empty) else {
                        unreachable!()
                    };
                    *state = Slot::Gone {
                        user: conn.user.clone(),
                        positions: conn.positions(),
                    };
                }
            }
        }
        // Every `said` against the room's texts.
        for state in &mut self.slots {
            let Slot::Live(conn) = state else { continue };
            let mut keep = Vec::new();
            for (room, epoch, offset, text) in conn.said.drain(..) {
                let model = self.rooms.entry(room.clone()).or_default();
                model.delivered(&epoch, offset, &text)?;
                match (&model.epoch, model.texts.get(&offset)) {
                    (Some(e), Some(t)) if *e == epoch => {
                        if *t != text {
                            return Err((
                                "history",
                                format!("{room} offset {offset} is {text:?}, the model says {t:?}"),
                            ));
                        }
                    }
                    (Some(e), _) if *e == epoch && offset <= model.offset => {
                        // Before the model knew the room (said before any join).
                    }
                    _ => keep.push((room, epoch, offset, text)),
                }
            }
            conn.said = keep;
        }
        Ok(())
    }

    /// Pumps until `check` passes (`None`), or fails with its last word.
    async fn until(
        &mut self,
        within: Duration,
        check: impl Fn(&Run) -> Option<(&'static str, String)>,
    ) -> Checked {
        let deadline = Instant::now() + within;
        loop {
            self.pump()?;
            match check(self) {
                None => return Ok(()),
                Some(failure) if Instant::now() > deadline => return Err(failure),
                Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    async fn answer(&mut self, slot: u8, id: u64) -> Checked<Answer> {
        self.until(ANSWER, |run| match &run.slots[usize::from(slot)] {
            Slot::Live(conn) if conn.answers.contains_key(&id) => None,
            Slot::Gone { .. } => None,
            Slot::Live(conn) if conn.close.is_some() || conn.ended => Some((
                "connection",
                format!(
                    "slot {slot} closed ({:?}) before answering id {id}",
                    conn.close
                ),
            )),
            _ => Some((
                "correlation",
                format!("slot {slot}: no answer with id {id} within {ANSWER:?}"),
            )),
        })
        .await?;
        match self.live(slot) {
            Some(conn) => Ok(conn.answers.remove(&id).unwrap()),
            None => Err((
                "connection",
                format!(
                    "slot {slot} closed with 1013 (Redis interrupted) before answering id {id}"
                ),
            )),
        }
    }

    /// Joins, from `since` if given, and checks the answer against the
    /// model; whether the join happened.
    async fn join(&mut self, slot: u8, room: &str, since: Option<(String, u64)>) -> Checked<bool> {
        let mut message = json!({"type": "join", "room": room});
        if let Some((epoch, offset)) = &since {
            message["since"] = json!({"epoch": epoch, "offset": offset});
        }
        let kind = Kind::Join {
            room: room.to_owned(),
            since: since.clone(),
        };
        let id = self.send(slot, message, kind).await?;
        let joined = match self.answer(slot, id).await? {
            Answer::Ack(Some(joined)) => joined,
            Answer::Refused(code) if code == "rate_limited" => return Ok(false),
            other => return Err(("protocol", format!("join {room} answered {other:?}"))),
        };
        let user = self.live(slot).unwrap().user.clone();
        if let Some(user) = &user
            && !strings(&joined["present"]).contains(user)
            && switches::JOINER_IN_ITS_ANSWER
        {
            return Err((
                "presence",
                format!("the join's answer does not list the joiner {user}: {joined}"),
            ));
        }
        let epoch = joined["epoch"].as_str().unwrap_or_default().to_owned();
        let offset = joined["offset"].as_u64().unwrap_or_default();
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .joined(&epoch, offset)?;
        if let Some((since_epoch, since)) = since {
            let recovered = joined["recovered"] == json!(true);
            let reason = joined["reason"].as_str().unwrap_or("");
            let ok = if since_epoch != epoch {
                !recovered && reason == "epoch_changed"
            } else if since > offset {
                false
            } else if offset - since <= HISTORY {
                recovered
            } else {
                recovered || reason == "too_far_behind"
            };
            if !ok {
                return Err((
                    "resume",
                    format!(
                        "resumed from {since_epoch}/{since} with the room at {epoch}/{offset} \
                         ({} missed, history {HISTORY}): {joined}",
                        offset.saturating_sub(since)
                    ),
                ));
            }
        }
        Ok(true)
    }

    async fn say(&mut self, slot: u8, room: u8, n: u8) -> Checked {
        if self.live(slot).is_none() {
            return Ok(());
        }
        let room = room_name(room);
        let mut sent = Vec::new();
        for i in 0..n {
            let text = format!("{}.{i}", self.step);
            let message = json!({"type": "say", "room": room, "text": text});
            sent.push((self.send(slot, message, Kind::Say).await?, text));
        }
        for (id, text) in sent {
            match self.answer(slot, id).await? {
                Answer::Ack(_) => self.rooms.entry(room.clone()).or_default().accept(text),
                Answer::Refused(code) if code == "rate_limited" => {}
                other => return Err(("protocol", format!("say answered {other:?}"))),
            }
        }
        Ok(())
    }

    async fn who(&mut self, slot: u8, room: u8) -> Checked {
        if self.live(slot).is_none() {
            return Ok(());
        }
        let room = room_name(room);
        let id = self
            .send(slot, json!({"type": "who", "room": room}), Kind::Who)
            .await?;
        match self.answer(slot, id).await? {
            Answer::Reply(present) => {
                let users: BTreeSet<String> = strings(&present["users"]).into_iter().collect();
                let truth = self.truth(&room);
                if users != truth {
                    return Err((
                        "presence",
                        format!("`who` answered {users:?}; in the room: {truth:?}"),
                    ));
                }
            }
            Answer::Refused(code) if code == "rate_limited" => {}
            other => return Err(("protocol", format!("who answered {other:?}"))),
        }
        Ok(())
    }

    async fn resume(&mut self, slot: u8, node: u8) -> Checked {
        let Some(Slot::Gone { user, positions }) = self.slots.get(usize::from(slot)) else {
            return Ok(());
        };
        let (user, positions) = (user.clone(), positions.clone());
        let Some(at) = self.node(node) else {
            return Ok(());
        };
        let peer = Peer::connect(&at.url(user.as_deref()))
            .await
            .map_err(|e| ("connect", e))?;
        self.slots[usize::from(slot)] =
            Slot::Live(Box::new(Conn::new(peer, usize::from(node), user)));
        for (room, since) in positions {
            self.join(slot, &room, Some(since)).await?;
        }
        Ok(())
    }

    async fn kick(&mut self, user: u8, node: u8) -> Checked {
        let user = user_name(user);
        let Some(at) = self.node(node) else {
            return Ok(());
        };
        at.manager
            .to_user(&user)
            .close(4001, "kicked")
            .map_err(|e| ("kick", format!("to_user({user}).close: {e}")))?;
        let kicked: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Slot::Live(c) if c.user.as_deref() == Some(&*user)))
            .map(|(i, _)| i)
            .collect();
        self.until(SETTLE, |run| {
            kicked.iter().find_map(|&i| match &run.slots[i] {
                Slot::Live(conn) if conn.close.is_none() => Some((
                    "kick",
                    format!(
                        "slot {i} of {user} on node {} not closed by the kick",
                        conn.node
                    ),
                )),
                _ => None,
            })
        })
        .await?;
        for i in kicked {
            let Slot::Live(conn) = std::mem::replace(&mut self.slots[i], Slot::Empty) else {
                unreachable!()
            };
            if conn.close != Some((4001, "kicked".into())) {
                return Err(("kick", format!("slot {i} closed with {:?}", conn.close)));
            }
            self.slots[i] = Slot::Gone {
                user: conn.user.clone(),
                positions: conn.positions(),
            };
        }
        Ok(())
    }

    /// Every connection of the node is cut with it.
    fn drop_conns_of(&mut self, node: usize) -> Checked {
        for i in 0..self.slots.len() {
            if matches!(&self.slots[i], Slot::Live(c) if c.node == node) {
                let Slot::Live(mut conn) = std::mem::replace(&mut self.slots[i], Slot::Empty)
                else {
                    unreachable!()
                };
                conn.pump()?;
                self.slots[i] = Slot::Gone {
                    user: conn.user.clone(),
                    positions: conn.positions(),
                };
                conn.peer.cut();
            }
        }
        Ok(())
    }

    async fn kill(&mut self, node: u8) -> Checked {
        let index = usize::from(node);
        let Some(Some(dead)) = self.nodes.get_mut(index).map(Option::take) else {
            return Ok(());
        };
        dead.kill();
        self.drop_conns_of(index)?;
        if !self.engine.shared_history() {
            for room in self.rooms.values_mut() {
                room.lose();
            }
        }
        self.nodes[index] = Some(self.services.node().await);
        Ok(())
    }

    async fn redis_restart(&mut self) -> Checked {
        if self.services.redis.is_none() {
            return Ok(());
        }
        let reconnects: Vec<u64> = self.reconnects();
        let redis = self.services.redis.as_mut().unwrap();
        redis.restart();
        for room in self.rooms.values_mut() {
            room.lose();
        }
        // Every node notices (its sockets closed) and reconnects.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .reconnects()
            .iter()
            .zip(&reconnects)
            .any(|(now, before)| now <= before)
        {
            if Instant::now() > deadline {
                return Err((
                    "backend",
                    "a node did not reconnect to the restarted Redis".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for state in &mut self.slots {
            if let Slot::Live(conn) = state {
                for member in conn.rooms.values_mut() {
                    member.reset = true;
                }
            }
        }
        self.until_up().await
    }

    async fn redis_pause(&mut self, ms: u16) -> Checked {
        let Some(redis) = self.services.redis.as_ref() else {
            return Ok(());
        };
        redis.signal("STOP");
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
        redis.signal("CONT");
        // A node that noticed ends the rooms' histories in Redis: the
        // epochs may change.
        for room in self.rooms.values_mut() {
            room.doubt();
        }
        for state in &mut self.slots {
            if let Slot::Live(conn) = state {
                for member in conn.rooms.values_mut() {
                    member.reset = true;
                }
            }
        }
        self.until_up().await
    }

    /// Each node's backend reconnections so far (0 for a dead node).
    fn reconnects(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|node| {
                node.as_ref()
                    .and_then(|node| node.manager.backend_status())
                    .map_or(0, |status| status.reconnects)
            })
            .collect()
    }

    /// Every node up again, and the members it closed for the
    /// interruption taken as gone.
    async fn until_up(&mut self) -> Checked {
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(node) = node
                && !node.until_up(Duration::from_secs(10)).await
            {
                return Err((
                    "backend",
                    format!("node {i} is not up 10 s after Redis came back"),
                ));
            }
        }
        // A node that noticed closes its members as it is up again: a
        // pause too short for a node to notice closes nothing.
        tokio::time::sleep(WINDOW + SLACK).await;
        self.pump()
    }

    /// After every op: each node holds exactly the model's connections and
    /// room members, presence on every node is the truth, and every member
    /// has every message of its rooms.
    async fn settle(&mut self) -> Checked {
        self.until(SETTLE, |run| {
            for (i, node) in run.nodes.iter().enumerate() {
                let Some(node) = node else { continue };
                let conns: Vec<&Conn> = run.conns().filter(|c| c.node == i).collect();
                if node.manager.connections() != conns.len() {
                    return Some((
                        "leftover",
                        format!(
                            "node {i} has {} connections, the model {}",
                            node.manager.connections(),
                            conns.len()
                        ),
                    ));
                }
                for room in run.rooms.keys() {
                    let members = conns.iter().filter(|c| c.rooms.contains_key(room)).count();
                    if node.manager.room_size(room) != members {
                        return Some((
                            "leftover",
                            format!(
                                "node {i} has {} members in {room}, the model {members}",
                                node.manager.room_size(room)
                            ),
                        ));
                    }
                }
            }
            for (slot, conn) in run.slots.iter().enumerate() {
                let Slot::Live(conn) = conn else { continue };
                if conn.close.is_some() || conn.ended {
                    return Some((
                        "connection",
                        format!("slot {slot} closed unexpectedly: {:?}", conn.close),
                    ));
                }
                for (room, member) in &conn.rooms {
                    let model = &run.rooms[room];
                    if model.epoch.as_deref() == Some(&member.epoch) && member.next <= model.offset
                    {
                        return Some((
                            "history",
                            format!(
                                "slot {slot} has {room} up to {} of {}, the room is at {}",
                                member.next - 1,
                                member.epoch,
                                model.offset
                            ),
                        ));
                    }
                }
                if let Some((room, _, offset, text)) = conn.said.first() {
                    return Some((
                        "history",
                        format!(
                            "slot {slot} got {room} offset {offset} {text:?}, not in the model"
                        ),
                    ));
                }
            }
            None
        })
        .await?;
        // Presence as every node lists it.
        let deadline = Instant::now() + SETTLE;
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let truth = self.truth(&room);
            for (i, node) in self.nodes.iter().enumerate() {
                let Some(node) = node else { continue };
                loop {
                    let listed: Option<BTreeSet<String>> = node
                        .manager
                        .presence(&room)
                        .await
                        .ok()
                        .map(|page| page.users.iter().map(|p| p.user.to_string()).collect());
                    if listed.as_ref() == Some(&truth) {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err((
                            "presence",
                            format!("node {i} lists {room} as {listed:?}; in the room: {truth:?}"),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        Ok(())
    }

    /// Every member's presence view converges to the truth within the
    /// window: what the join listed, plus every diff since. Allowed, about
    /// a user who came or went within two windows before the member's
    /// join: still listed after a stay shorter than the debounce (never
    /// sampled, so its leave is never announced), and, while the room's
    /// presence events on the member's node were sampling (it had members
    /// there), missing after an absence shorter than the debounce (no
    /// event either way).
    async fn converge(&mut self) -> Checked {
        let tolerated = 2 * WINDOW + SLACK;
        self.until(3 * WINDOW + 2 * SLACK + Duration::from_secs(1), |run| {
            for (slot, conn) in run.slots.iter().enumerate() {
                let Slot::Live(conn) = conn else { continue };
                for (room, member) in &conn.rooms {
                    let truth = run.truth(room);
                    for user in member.view.symmetric_difference(&truth) {
                        let excused = run
                            .transitions
                            .get(&(room.clone(), user.clone()))
                            .is_some_and(|times| {
                                // Missing from the view: only a debounced
                                // absence, which needs the events to have
                                // been sampling the room on the member's node.
                                let missing = truth.contains(user);
                                let sampling = run.occupied.get(&(conn.node, room.clone()));
                                times.iter().any(|&t| {
                                    (t <= member.at
                                        && member.at.duration_since(t) < tolerated
                                        && (!missing || sampling.is_some_and(|&since| since < t)))
                                        || (!switches::FIRST_WINDOW_ANNOUNCED
                                            && t > member.at
                                            && t.duration_since(member.at) < tolerated)
                                })
                            });
                        if !excused {
                            return Some((
                                "presence",
                                format!(
                                    "slot {slot} ({:?} on node {}) sees {room} as {:?}, in the \
                                     room: {truth:?} (diffs since its join: {:?})",
                                    conn.user, conn.node, member.view, member.diffs
                                ),
                            ));
                        }
                    }
                }
            }
            None
        })
        .await
    }

    /// Everyone leaves: no connection, room, subscription or presence is
    /// left on any node; then every node is killed and nothing they wrote
    /// stays in Redis without an expiry.
    async fn finish(&mut self) -> Checked {
        for state in &mut self.slots {
            if let Slot::Live(conn) = std::mem::replace(state, Slot::Empty) {
                conn.peer.close().await;
            }
        }
        self.until(SETTLE, |run| {
            for (i, node) in run.nodes.iter().enumerate() {
                let Some(node) = node else { continue };
                let m = &node.manager;
                let channels = m.backend_status().map_or(0, |s| s.channels);
                if m.connections() != 0 || m.rooms() != 0 || m.users() != 0 || channels != 0 {
                    return Some((
                        "leftover",
                        format!(
                            "node {i}: {} connections, {} rooms, {} users, {channels} channels \
                             left after every client left",
                            m.connections(),
                            m.rooms(),
                            m.users()
                        ),
                    ));
                }
            }
            None
        })
        .await?;
        if self.services.redis.is_none() {
            return Ok(());
        }
        for node in &mut self.nodes {
            if let Some(node) = node.take() {
                node.kill();
            }
        }
        tokio::time::sleep(PRESENCE_TTL + SLACK).await;
        let keys = self.keys().await;
        let forever: Vec<_> = keys.iter().filter(|(_, ttl)| *ttl < 0).collect();
        if !forever.is_empty() && switches::EVERY_KEY_EXPIRES {
            return Err((
                "leftover",
                format!("keys without an expiry after every node died: {forever:?}"),
            ));
        }
        let presence: Vec<_> = keys
            .iter()
            .filter(|(key, _)| key.contains(":present:") || key.contains("{presence}"))
            .collect();
        if !presence.is_empty() && switches::EVERY_KEY_EXPIRES {
            return Err((
                "leftover",
                format!("presence keys {PRESENCE_TTL:?} after every node died: {presence:?}"),
            ));
        }
        Ok(())
    }

    /// The run's keys in Redis and their TTLs in ms (-1: none).
    async fn keys(&self) -> Vec<(String, i64)> {
        let redis = self.services.redis.as_ref().unwrap();
        redis.ttls(&format!("{}*", self.services.prefix)).await
    }
}
