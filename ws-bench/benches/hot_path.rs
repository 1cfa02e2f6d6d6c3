//! The in-process hot path, without sockets: the enqueue cost of a broadcast
//! per recipient (10 to 10,000 registered connections), the cost of encoding
//! a message once, and the per-message cost of decoding and routing.
//!
//! `cargo bench -p ws-bench --bench hot_path` (not run in CI).

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_core::bench::{Detached, decode_and_route};
use ws_core::{Frame, Manager, Overflow};

// The chat example's protocol and handlers, as the example runs them.
#[path = "../../examples/chat/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../../examples/chat/protocol.rs"]
mod protocol;
use app::App;
use protocol::{Chat, chat};

const QUEUE: usize = 1024;

fn manager() -> Manager<Chat> {
    Manager::<Chat>::builder()
        .send_queue(QUEUE)
        .on_full(Overflow::DropNewest)
        .build()
}

fn said(text_len: usize) -> chat::Said {
    chat::Said {
        room: "bench".into(),
        text: "x".repeat(text_len),
        from: "#1".into(),
    }
}

/// Times `iters` calls of `step` in batches that fit the queues; emptying
/// the queues between batches, as writers would, is not timed.
fn timed_in_batches(iters: u64, room: &Detached<Chat>, mut step: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(QUEUE as u64 - 1);
        let start = Instant::now();
        for _ in 0..batch {
            step();
        }
        total += start.elapsed();
        room.drain();
        left -= batch;
    }
    total
}

/// Polls a future that never waits (the handlers here do not) to its end.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited"),
    }
}

fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast_enqueue");
    for n in [10usize, 100, 1_000, 10_000] {
        let manager = manager();
        let room = Detached::join(&manager, "bench", n);
        let frame = Frame::encode(said(100)).expect("encodes");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                timed_in_batches(iters, &room, || {
                    black_box(manager.to_room("bench").send_frame(&frame));
                })
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_once");
    for len in [100usize, 1_000] {
        let message = said(len);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
            b.iter(|| Frame::<Chat>::encode(black_box(message.clone())).expect("encodes"));
        });
    }
    group.finish();
}

fn decode_route(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_route");
    let manager = manager();
    let room = Detached::join(&manager, "bench", 1);
    let ctx = room.ctx(0);
    let text = "x".repeat(100);
    let say = serde_json::json!({"type": "say", "room": "bench", "text": text}).to_string();
    let echo = serde_json::json!({"type": "echo", "text": text}).to_string();
    for (name, frame) in [("say_to_1", say), ("echo", echo)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed_in_batches(iters, &room, || {
                    now(decode_and_route(&ctx, &App, black_box(&frame))).expect("routes");
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, broadcast, encode, decode_route);
criterion_main!(benches);
