//! Rooms' histories in Redis, for delivery guarantees across nodes: the
//! offsets come from Redis, so every node agrees on them, and the recorded
//! messages live in a Redis Stream per room, so a client that resumes on
//! another node is replayed the same messages.
//!
//! Three keys per room, under `{prefix}:{protocol}:h{ROOM}:` (the room in
//! braces is a Redis Cluster hash tag: the three keys share a slot, as a
//! script needs):
//! - `epoch`: the name of the history, made once (by the first record or
//!   read of the room) from a random value. A Redis restart or flush loses
//!   it with the rest, and the next record makes a new one, so a client's old
//!   position is answered `epoch_changed`, never resumed into a different
//!   history;
//! - `offset`: the room's latest offset, `INCR`ed by exactly 1 per record;
//! - `stream`: the recorded messages, `XADD`ed with fields `o` (the offset)
//!   and `b` (the JSON body, not yet stamped), trimmed by count
//!   (`MAXLEN ~`) and by age (`MINID ~`). Entry ids stay Redis's own
//!   (time-based, so `MINID` trims by age); the offset is a field beside;
//! - `master` (Redis Cluster only): the replication id of the master that
//!   last wrote the history. Replication is asynchronous: a master that
//!   dies may take its last records with it, and the replica that takes
//!   over would hand out their offsets again, to other messages. A replica
//!   promoted has a replication id of its own, so the first script to run
//!   there sees the change and ends the history (a new epoch): a resume
//!   across a failover is told `epoch_changed`, never replayed into a
//!   history with a hole. A slot moved to another master ends it alike.
//!
//! [`RECORD`] gives a message its offset, records it and publishes it in one
//! script, so it is one atomic step: the order of the offsets is the order
//! of the publishes, and no node, the sending one included, can see N+1
//! before N on the room's channel. [`READ`] answers a resume in one script
//! too: the epoch, the latest offset, and every message after the client's
//! position, or why they cannot be replayed.
//!
//! What is published is an envelope of version 3 (see [`super::super::envelope`]
//! for 1 and 2): the header the node wrote, then `EPOCH\nOFFSET\nBODY`; each
//! receiving node stamps the body once (`"epoch":E,"offset":N` beside the
//! tag) and shares the frame among its members.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{RedisResult, Script, ScriptInvocation, ToRedisArgs, Value};

use super::Names;
use crate::backend::{HistoryBounds, Outcome, Read};

/// Envelope version of a recorded message.
pub(crate) const VERSION_RECORDED: u8 = 3;

/// The bounds of a room's stream in Redis: `MAXLEN ~ count` may keep a
/// few more messages, and `ttl` trims by age.
pub(crate) type Bounds = HistoryBounds;

fn ttl_ms(bounds: &Bounds) -> u128 {
    bounds.ttl.map_or(0, |ttl| ttl.as_millis().max(1))
}

/// The keys of one room's history.
pub(crate) struct Keys {
    pub(super) epoch: String,
    offset: String,
    stream: String,
    master: String,
}

impl Names {
    pub(crate) fn history(&self, room: &str) -> Keys {
        let base = format!("{}h{{{room}}}:", self.base);
        Keys {
            epoch: format!("{base}epoch"),
            offset: format!("{base}offset"),
            stream: format!("{base}stream"),
            master: format!("{base}master"),
        }
    }
}

/// KEYS: epoch, offset, stream, master. ARGV: a fresh epoch (used only if
/// the room has none), the count bound, the age bound in ms (0: none), the
/// publish command, the channel, the envelope's header, the body, whether
/// on a cluster (`1`, or empty).
/// Returns `{epoch, offset}`.
pub(crate) static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_LUA));

/// [`RECORD`]'s source, which a publishing pipeline loads first (`SCRIPT
/// LOAD`), so that a Redis that restarted or failed over since the last
/// batch has it again before the batch's `EVALSHA`s.
pub(crate) const RECORD_LUA: &str = concat!(
    "local CLUSTER, TTL = 8, 3\n",
    include_str!("master.lua"),
    r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  -- The history was never made, or was lost (restart, flush): a new one,
  -- with nothing of a lost one left to mix in.
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local offset = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'o', offset, 'b', ARGV[7])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('XTRIM', KEYS[3], 'MINID', '~', ms - ttl)
  -- A room nobody writes to any more goes away whole, epoch included:
  -- its messages would all have expired anyway.
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call(ARGV[4], ARGV[5], ARGV[6] .. epoch .. '\n' .. offset .. '\n' .. ARGV[7])
return {epoch, offset}
"
);

/// KEYS: epoch, offset, stream, master. ARGV: a fresh epoch (used only if
/// the room has none), the client's epoch and offset (both empty: no
/// position), the most messages to replay, the age bound in ms (0: none),
/// whether on a cluster (`1`, or empty).
/// Returns `{epoch, head, outcome, body...}`.
pub(crate) static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "local CLUSTER, TTL = 6, 5\n",
        include_str!("master.lua"),
        r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  -- Made by a join: it goes with the room's messages, should none follow
  -- (a peer joining many names leaves nothing behind for longer).
  local ttl = tonumber(ARGV[5])
  if ttl > 0 then
    redis.call('SET', KEYS[1], epoch, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], epoch)
  end
  redis.call('DEL', KEYS[2], KEYS[3])
end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[3] == '' then return {epoch, head, 'fresh'} end
local since = tonumber(ARGV[3])
if ARGV[2] ~= epoch or since == nil or since > head then
  return {epoch, head, 'epoch_changed'}
end
local want = head - since
if want == 0 then return {epoch, head, 'recovered'} end
if want > tonumber(ARGV[4]) then return {epoch, head, 'too_far_behind'} end
local entries = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', want)
-- Offsets are consecutive in the stream: the oldest of the last `want`
-- entries is the one after the client's position, unless it was trimmed.
local oldest = entries[#entries]
if #entries < want or tonumber(oldest[2][2]) ~= since + 1 then
  return {epoch, head, 'too_far_behind'}
end
local out = {epoch, head, 'recovered'}
for i = #entries, 1, -1 do out[#out + 1] = entries[i][2][4] end
return out
",
    ))
});

/// A fresh epoch: random, 16 hex digits (well within
/// [`MAX_EPOCH`](crate::wire::frame::MAX_EPOCH), no character JSON escapes).
pub(crate) fn fresh_epoch() -> String {
    format!("{:016x}", crate::backend::node_id())
}

/// The script call that records `body` (a message's JSON) in `room`'s
/// stream and publishes it on `channel` after `header`, as one atomic step;
/// it answers the message's epoch and offset.
pub(crate) fn record_call(
    names: &Names,
    cluster: bool,
    room: &str,
    bounds: Bounds,
    publish: &str,
    channel: impl ToRedisArgs,
    (header, body): (&[u8], &[u8]),
) -> ScriptInvocation<'static> {
    let keys = names.history(room);
    let mut call = RECORD.prepare_invoke();
    call.key(&keys.epoch)
        .key(&keys.offset)
        .key(&keys.stream)
        .key(&keys.master)
        .arg(fresh_epoch())
        .arg(bounds.count.max(1))
        .arg(ttl_ms(&bounds).to_string())
        .arg(publish)
        .arg(channel)
        .arg(header)
        .arg(body)
        .arg(if cluster { "1" } else { "" });
    call
}

/// [`record_call`], called, publishing on the channel `ch`.
#[cfg(test)]
pub(crate) async fn record(
    conn: &mut impl ConnectionLike,
    names: &Names,
    room: &str,
    bounds: Bounds,
    body: &[u8],
) -> RedisResult<(String, u64)> {
    record_call(
        names,
        false,
        room,
        bounds,
        "PUBLISH",
        "ch",
        (&[VERSION_RECORDED], body),
    )
    .invoke_async(conn)
    .await
}

/// Answers a resume of `room` from `since` (epoch, offset), replaying at
/// most `max` messages, with Redis's `CLIENT ID` of the connection it was
/// read on (the one whose subscriptions bring what follows).
pub(crate) async fn read(
    conn: &mut impl ConnectionLike,
    cluster: bool,
    names: &Names,
    room: &str,
    since: Option<(&str, u64)>,
    max: usize,
    bounds: Bounds,
) -> RedisResult<(u64, Read)> {
    let keys = names.history(room);
    let (epoch, offset) = match since {
        Some((epoch, offset)) => (epoch, offset.to_string()),
        None => ("", String::new()),
    };
    let mut call = READ.prepare_invoke();
    call.key(&keys.epoch)
        .key(&keys.offset)
        .key(&keys.stream)
        .key(&keys.master)
        .arg(fresh_epoch())
        .arg(epoch)
        .arg(offset)
        .arg(max)
        .arg(ttl_ms(&bounds).to_string())
        .arg(if cluster { "1" } else { "" });
    // One pipeline, so one connection: the id and the read go together.
    let mut pipe = redis::pipe();
    pipe.cmd("CLIENT").arg("ID");
    pipe.invoke_script(&call);
    let (client, reply): (u64, Vec<Value>) = match pipe.query_async(conn).await {
        Err(error)
            if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
        {
            call.load_async(conn).await?;
            pipe.query_async(conn).await?
        }
        other => other?,
    };
    let read = parse_read(reply).ok_or_else(|| {
        redis::RedisError::from((redis::ErrorKind::Parse, "unexpected reply to READ"))
    })?;
    Ok((client, read))
}

fn parse_read(reply: Vec<Value>) -> Option<Read> {
    let mut reply = reply.into_iter();
    let epoch: String = redis::from_redis_value(reply.next()?).ok()?;
    let head: u64 = redis::from_redis_value(reply.next()?).ok()?;
    let outcome: String = redis::from_redis_value(reply.next()?).ok()?;
    let outcome = match &*outcome {
        "fresh" => Outcome::Fresh,
        "epoch_changed" => Outcome::EpochChanged,
        "too_far_behind" => Outcome::TooFarBehind,
        "recovered" => Outcome::Recovered(
            reply
                .map(redis::from_redis_value)
                .collect::<Result<_, _>>()
                .ok()?,
        ),
        _ => return None,
    };
    Some(Read {
        epoch,
        head,
        outcome,
    })
}

/// A recorded message as published: its epoch, offset and body, after the
/// envelope's header.
pub(crate) fn parse_recorded(rest: &[u8]) -> Option<(&str, u64, &[u8])> {
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let epoch = std::str::from_utf8(parts.next()?).ok()?;
    let offset = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let body = parts.next()?;
    (epoch.len() <= crate::wire::frame::MAX_EPOCH && !epoch.contains(['"', '\\']))
        .then_some((epoch, offset, body))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};

    use std::time::Duration;

    use redis::aio::MultiplexedConnection;

    use super::*;

    /// The answer to a read of `room` from `since`, on `conn`.
    async fn answer(
        conn: &mut MultiplexedConnection,
        names: &Names,
        room: &str,
        since: Option<(&str, u64)>,
        max: usize,
    ) -> Read {
        read(conn, false, names, room, since, max, BOUNDS)
            .await
            .unwrap()
            .1
    }

    /// A `redis-server` of the test's own, killed when dropped.
    struct Server {
        port: u16,
        child: Child,
    }

    impl Server {
        fn start() -> Server {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("these tests need redis-server (Debian: apt-get install redis-server)");
            Server { port, child }
        }

        async fn connect(&self) -> MultiplexedConnection {
            let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
            // Started just now: retried until it listens (at most 5 s).
            for _ in 0..100 {
                if let Ok(conn) = client.get_multiplexed_async_connection().await {
                    return conn;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("redis-server did not start");
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    const BOUNDS: Bounds = Bounds {
        count: 1000,
        ttl: None,
    };

    async fn say(conn: &mut MultiplexedConnection, names: &Names, n: u64) -> (String, u64) {
        let body = format!(r#"{{"type":"said","text":"{n}"}}"#);
        record(conn, names, "lobby", BOUNDS, body.as_bytes())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn offsets_agree_across_writers_and_a_flush_makes_a_new_epoch() {
        let server = Server::start();
        let names = Names::new("ws", "T");
        let mut listener = server.connect().await;
        let mut subscriber = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port))
            .unwrap()
            .get_async_pubsub()
            .await
            .unwrap();
        subscriber.subscribe("ch").await.unwrap();
        // Two "nodes" (connections) recording into one room at once.
        let mut a = server.connect().await;
        let mut b = server.connect().await;
        let (na, nb) = (names.clone(), names.clone());
        let writer_a = tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..200 {
                got.push(say(&mut a, &na, n).await);
            }
            got
        });
        let writer_b = tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..200 {
                got.push(say(&mut b, &nb, n).await);
            }
            got
        });
        let mut all = writer_a.await.unwrap();
        all.extend(writer_b.await.unwrap());
        let epoch = all[0].0.clone();
        assert!(all.iter().all(|(e, _)| *e == epoch), "one epoch");
        let mut offsets: Vec<u64> = all.iter().map(|(_, o)| *o).collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (1..=400).collect::<Vec<_>>(), "no gap, no repeat");

        // Published in offset order: the order of the script runs.
        use futures_util::StreamExt;
        let mut messages = subscriber.on_message();
        for expected in 1..=400u64 {
            let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
                .await
                .expect("every record is published")
                .unwrap();
            let payload: Vec<u8> = message.get_payload().unwrap();
            let (e, offset, _) = parse_recorded(&payload[1..]).unwrap();
            assert_eq!((e, offset), (&*epoch, expected));
        }

        // Replay: everything after a position, in order, the same on any
        // connection (node).
        let read_at = answer(&mut listener, &names, "lobby", Some((&epoch, 395)), 100).await;
        assert_eq!(read_at.head, 400);
        let Outcome::Recovered(bodies) = read_at.outcome else {
            panic!("{read_at:?}")
        };
        assert_eq!(bodies.len(), 5);
        let fresh = answer(&mut listener, &names, "lobby", None, 100).await;
        assert_eq!((fresh.epoch.as_str(), fresh.head), (&*epoch, 400));
        assert_eq!(fresh.outcome, Outcome::Fresh);
        let behind = answer(&mut listener, &names, "lobby", Some((&epoch, 10)), 100).await;
        assert_eq!(
            behind.outcome,
            Outcome::TooFarBehind,
            "past the replay bound"
        );
        let ahead = answer(&mut listener, &names, "lobby", Some((&epoch, 401)), 100).await;
        assert_eq!(ahead.outcome, Outcome::EpochChanged, "never reached");

        // A flush loses the history: a new epoch, offsets from 1 again, and
        // the old position is told so.
        redis::cmd("FLUSHALL")
            .exec_async(&mut listener)
            .await
            .unwrap();
        let lost = answer(&mut listener, &names, "lobby", Some((&epoch, 400)), 100).await;
        assert_eq!(lost.outcome, Outcome::EpochChanged);
        assert_ne!(lost.epoch, epoch);
        let (after, offset) = say(&mut listener, &names, 0).await;
        assert_eq!((after, offset), (lost.epoch, 1));
    }

    #[tokio::test]
    async fn trimmed_by_count_is_too_far_behind() {
        let server = Server::start();
        let names = Names::new("ws", "T");
        let mut conn = server.connect().await;
        let bounds = Bounds {
            count: 10,
            ttl: None,
        };
        let mut epoch = String::new();
        for n in 0..2000u64 {
            let body = format!(r#"{{"n":{n}}}"#);
            epoch = record(&mut conn, &names, "r", bounds, body.as_bytes())
                .await
                .unwrap()
                .0;
        }
        let len: usize = redis::cmd("XLEN")
            .arg(names.history("r").stream)
            .query_async(&mut conn)
            .await
            .unwrap();
        // `MAXLEN ~` trims whole macro nodes (100 entries by default): at
        // least 10 kept, at most 10 plus one node's worth.
        assert!((10..=10 + 100).contains(&len), "{len}");
        let read_at = answer(&mut conn, &names, "r", Some((&epoch, 1)), 5000).await;
        assert_eq!(read_at.outcome, Outcome::TooFarBehind);
        let read_at = answer(&mut conn, &names, "r", Some((&epoch, 1990)), 5000).await;
        let Outcome::Recovered(bodies) = read_at.outcome else {
            panic!("{read_at:?}")
        };
        assert_eq!(
            bodies.first().map(Vec::as_slice),
            Some(&br#"{"n":1990}"#[..])
        );
        assert_eq!(bodies.len(), 10);
    }

    #[test]
    fn recorded_payload_parses() {
        assert_eq!(
            parse_recorded(b"ab12\n42\n{\"x\":1}"),
            Some(("ab12", 42, &b"{\"x\":1}"[..]))
        );
        assert_eq!(parse_recorded(b"ab\"\n1\n{}"), None);
        assert_eq!(parse_recorded(b"ab\nx\n{}"), None);
    }
}
