//! The operations, their one-line text form (what a failure prints and
//! `MODEL_OPS` replays) and a seeded generator.

use std::fmt;

/// Connection slots, rooms and users the ops pick from: few, so that they
/// meet.
pub const SLOTS: u8 = 6;
pub const ROOMS: u8 = 3;
pub const USERS: u8 = 4;

/// One step. Slots name client connections; a step whose slot or node
/// makes no sense when it runs (a shrink removed what it needed) is
/// skipped, so any sub-list of a list replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A new connection in `slot` on `node`, as user `u<user>` or anonymous.
    Connect {
        slot: u8,
        node: u8,
        user: Option<u8>,
    },
    /// `join` room `r<room>`.
    Join { slot: u8, room: u8 },
    /// `leave` it.
    Leave { slot: u8, room: u8 },
    /// One `say` into the room (a member or not).
    Say { slot: u8, room: u8 },
    /// `n` says at once, past the rate limit's burst.
    Burst { slot: u8, room: u8, n: u8 },
    /// The `who` request.
    Who { slot: u8, room: u8 },
    /// The TCP connection reset, no close frame.
    Cut { slot: u8 },
    /// A cut or kicked slot connects again (on `node`), as the same user,
    /// and joins each of its rooms from the last position it processed.
    Resume { slot: u8, node: u8 },
    /// `to_user(u).close(4001)` from `node`'s manager.
    Kick { user: u8, node: u8 },
    /// A node killed (every task dropped at once, like SIGKILL) and started
    /// again on a new port; its clients are cut.
    Kill { node: u8 },
    /// Redis killed and started again (its data gone: every history's
    /// epoch changes).
    RedisRestart,
    /// Redis paused (SIGSTOP) for a while, then resumed: it keeps its data.
    RedisPause { ms: u16 },
    /// Nothing for `ms` milliseconds: presence windows pass (a room left
    /// empty on a node is sampled empty).
    Wait { ms: u16 },
    /// Every member's presence view converges to the truth within the
    /// window.
    Settle,
}

fn node_name(node: u8) -> char {
    (b'A' + node) as char
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Connect { slot, node, user } => {
                write!(f, "connect {slot} {}", node_name(node))?;
                match user {
                    Some(user) => write!(f, " u{user}"),
                    None => write!(f, " -"),
                }
            }
            Op::Join { slot, room } => write!(f, "join {slot} r{room}"),
            Op::Leave { slot, room } => write!(f, "leave {slot} r{room}"),
            Op::Say { slot, room } => write!(f, "say {slot} r{room}"),
            Op::Burst { slot, room, n } => write!(f, "burst {slot} r{room} {n}"),
            Op::Who { slot, room } => write!(f, "who {slot} r{room}"),
            Op::Cut { slot } => write!(f, "cut {slot}"),
            Op::Resume { slot, node } => write!(f, "resume {slot} {}", node_name(node)),
            Op::Kick { user, node } => write!(f, "kick u{user} {}", node_name(node)),
            Op::Kill { node } => write!(f, "kill {}", node_name(node)),
            Op::RedisRestart => write!(f, "redis-restart"),
            Op::RedisPause { ms } => write!(f, "redis-pause {ms}"),
            Op::Wait { ms } => write!(f, "wait {ms}"),
            Op::Settle => write!(f, "settle"),
        }
    }
}

/// `op; op; ...` as [`Op`]'s `Display` writes them.
pub fn parse(text: &str) -> Result<Vec<Op>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|op| !op.is_empty())
        .map(|op| parse_one(op).ok_or_else(|| format!("cannot read the op `{op}`")))
        .collect()
}

fn parse_one(text: &str) -> Option<Op> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let num = |i: usize| words.get(i)?.parse::<u8>().ok();
    let tagged = |i: usize, tag: char| words.get(i)?.strip_prefix(tag)?.parse::<u8>().ok();
    let node = |i: usize| {
        let c = words.get(i)?.chars().next()?;
        c.is_ascii_uppercase().then(|| c as u8 - b'A')
    };
    Some(match *words.first()? {
        "connect" => Op::Connect {
            slot: num(1)?,
            node: node(2)?,
            user: match *words.get(3)? {
                "-" => None,
                _ => Some(tagged(3, 'u')?),
            },
        },
        "join" => Op::Join {
            slot: num(1)?,
            room: tagged(2, 'r')?,
        },
        "leave" => Op::Leave {
            slot: num(1)?,
            room: tagged(2, 'r')?,
        },
        "say" => Op::Say {
            slot: num(1)?,
            room: tagged(2, 'r')?,
        },
        "burst" => Op::Burst {
            slot: num(1)?,
            room: tagged(2, 'r')?,
            n: num(3)?,
        },
        "who" => Op::Who {
            slot: num(1)?,
            room: tagged(2, 'r')?,
        },
        "cut" => Op::Cut { slot: num(1)? },
        "resume" => Op::Resume {
            slot: num(1)?,
            node: node(2)?,
        },
        "kick" => Op::Kick {
            user: tagged(1, 'u')?,
            node: node(2)?,
        },
        "kill" => Op::Kill { node: node(1)? },
        "redis-restart" => Op::RedisRestart,
        "redis-pause" => Op::RedisPause {
            ms: words.get(1)?.parse().ok()?,
        },
        "wait" => Op::Wait {
            ms: words.get(1)?.parse().ok()?,
        },
        "settle" => Op::Settle,
        _ => return None,
    })
}

/// The ops as one line that [`parse`] reads back.
pub fn show(ops: &[Op]) -> String {
    ops.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// splitmix64: a seed is all a run needs to be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize])
    }
}

/// Which faults the generator may use.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub nodes: u8,
    pub kill: bool,
    pub redis: bool,
    pub redis_restart: bool,
}

/// What the generator assumes of a slot (that every op succeeds): enough
/// to make most generated ops meaningful. The run itself follows the
/// answers.
#[derive(Clone, Copy, Default, PartialEq)]
enum Shadow {
    #[default]
    Empty,
    Live {
        user: Option<u8>,
        rooms: u8,
    },
    Gone {
        user: Option<u8>,
        rooms: u8,
    },
}

/// `steps` ops from `seed`, a `settle` every fifth and at the end.
pub fn generate(seed: u64, steps: usize, mix: Mix) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut slots = [Shadow::Empty; SLOTS as usize];
    let mut ops = Vec::with_capacity(steps + steps / 10 + 1);
    let in_room = |rooms: u8, room: u8| rooms & (1 << room) != 0;
    let mut last_room = None;
    while ops.len() < steps {
        if ops.len() % 5 == 4 {
            ops.push(Op::Settle);
            continue;
        }
        let live: Vec<u8> = (0..SLOTS)
            .filter(|&s| matches!(slots[s as usize], Shadow::Live { .. }))
            .collect();
        let gone: Vec<u8> = (0..SLOTS)
            .filter(|&s| matches!(slots[s as usize], Shadow::Gone { rooms, .. } if rooms != 0))
            .collect();
        let free: Vec<u8> = (0..SLOTS)
            .filter(|&s| !matches!(slots[s as usize], Shadow::Live { .. }))
            .collect();
        let node = rng.below(u64::from(mix.nodes)) as u8;
        // Half the time the room of the last join: joins that follow each
        // other into one room meet in its first presence window.
        let room = match (rng.below(2), last_room) {
            (0, Some(room)) => room,
            _ => rng.below(u64::from(ROOMS)) as u8,
        };
        let roll = rng.below(112);
        let op = match roll {
            0..=11 => rng.pick(&free).map(|slot| {
                let user = (rng.below(4) != 0).then(|| rng.below(u64::from(USERS)) as u8);
                slots[slot as usize] = Shadow::Live { user, rooms: 0 };
                Op::Connect { slot, node, user }
            }),
            12..=31 => rng.pick(&live).map(|slot| {
                if let Shadow::Live { rooms, .. } = &mut slots[slot as usize] {
                    *rooms |= 1 << room;
                }
                last_room = Some(room);
                Op::Join { slot, room }
            }),
            32..=37 => rng
                .pick(&live)
                .and_then(|slot| match &mut slots[slot as usize] {
                    Shadow::Live { rooms, .. } if in_room(*rooms, room) => {
                        *rooms &= !(1 << room);
                        Some(Op::Leave { slot, room })
                    }
                    _ => None,
                }),
            38..=57 => rng.pick(&live).map(|slot| Op::Say { slot, room }),
            58..=61 => rng.pick(&live).map(|slot| Op::Burst {
                slot,
                room,
                n: RATE_BURST_OP_MIN + rng.below(12) as u8,
            }),
            62..=67 => rng.pick(&live).map(|slot| Op::Who { slot, room }),
            68..=75 => rng.pick(&live).map(|slot| {
                if let Shadow::Live { user, rooms } = slots[slot as usize] {
                    slots[slot as usize] = Shadow::Gone { user, rooms };
                }
                Op::Cut { slot }
            }),
            76..=87 => rng.pick(&gone).map(|slot| {
                if let Shadow::Gone { user, rooms } = slots[slot as usize] {
                    slots[slot as usize] = Shadow::Live { user, rooms };
                }
                Op::Resume { slot, node }
            }),
            88..=91 => {
                let user = rng.below(u64::from(USERS)) as u8;
                for slot in &mut slots {
                    if let Shadow::Live {
                        user: Some(u),
                        rooms,
                    } = *slot
                        && u == user
                    {
                        *slot = Shadow::Gone {
                            user: Some(u),
                            rooms,
                        };
                    }
                }
                Some(Op::Kick { user, node })
            }
            92..=95 if mix.kill => {
                for slot in &mut slots {
                    if let Shadow::Live { user, rooms } = *slot {
                        *slot = Shadow::Gone { user, rooms };
                    }
                }
                ops.push(Op::Kill { node });
                // Half the time the new node gets a user and dies again at
                // once: before its first presence heartbeat.
                if rng.below(2) == 0
                    && let Some(slot) = rng.pick(&free)
                {
                    let user = Some(rng.below(u64::from(USERS)) as u8);
                    ops.push(Op::Connect { slot, node, user });
                    ops.push(Op::Kill { node });
                    slots[slot as usize] = Shadow::Gone { user, rooms: 0 };
                }
                None
            }
            96..=97 if mix.redis => Some(if mix.redis_restart {
                Op::RedisRestart
            } else {
                // The same place in the list, so seeds keep their other ops.
                Op::RedisPause { ms: 300 }
            }),
            98..=99 if mix.redis => Some(Op::RedisPause {
                ms: 100 + rng.below(600) as u16,
            }),
            100..=107 if live.len() >= 2 => {
                // A room emptied, a window passed, then two joins in its
                // first window: the presence events' hardest moment.
                for &slot in &live {
                    if let Shadow::Live { rooms, .. } = &mut slots[slot as usize]
                        && in_room(*rooms, room)
                    {
                        *rooms &= !(1 << room);
                        ops.push(Op::Leave { slot, room });
                    }
                }
                ops.push(Op::Wait { ms: 400 });
                let first = rng.below(live.len() as u64) as usize;
                let second = (first + 1 + rng.below(live.len() as u64 - 1) as usize) % live.len();
                for slot in [live[first], live[second]] {
                    if let Shadow::Live { rooms, .. } = &mut slots[slot as usize] {
                        *rooms |= 1 << room;
                    }
                    ops.push(Op::Join { slot, room });
                }
                ops.push(Op::Settle);
                None
            }
            108.. => Some(Op::Wait {
                ms: 100 + rng.below(400) as u16,
            }),
            _ => None,
        };
        if let Some(op) = op {
            ops.push(op);
        }
    }
    ops.push(Op::Settle);
    ops
}

/// A burst is at least this many says: past the rate limit's burst.
const RATE_BURST_OP_MIN: u8 = super::protocol::RATE_BURST as u8 + 4;

#[test]
fn ops_read_back_as_they_print() {
    let mix = Mix {
        nodes: 3,
        kill: true,
        redis: true,
        redis_restart: true,
    };
    for seed in 0..20 {
        let ops = generate(seed, 200, mix);
        assert_eq!(parse(&show(&ops)).unwrap(), ops);
    }
}
