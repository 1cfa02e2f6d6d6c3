//! Untrusted peers cannot exhaust the server: half-sent handshakes are
//! dropped, fragment floods are bounded by `max_message_size`, and the
//! per-IP limits refuse before the 101.
//!
//! The floods are measured on a server in its own process (this test binary
//! re-run as [`server_process`]), so that its file descriptors and RSS are
//! the server's alone, not the clients' nor those of the tests running
//! beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;
use ws_core::Protocol;

use crate::support::process::{TestProcess, as_child, until_stdin_closes};
use crate::support::{RawClient, Server, Test, WAIT, close_payload};

/// The server process reads its options from `{PREFIX}{OPTION}`.
const PREFIX: &str = "WS_E2E_SERVER_";
const LISTENING: &str = "listening on ";
const SERVER: &str = "exhaustion::server_process";

/// Not a test on its own: the server process the flood tests start and
/// measure. Its configuration is `Test::CONFIG` overridden from the
/// environment; it stops when its standard input closes.
#[test]
#[ignore = "the server process of the exhaustion tests, which start it themselves"]
fn server_process() {
    as_child(SERVER, || async {
        let config = Test::CONFIG.override_from_env(PREFIX).unwrap();
        let server = Server::start(config).await;
        println!("{LISTENING}{}", server.addr);
        until_stdin_closes().await;
    });
}

/// A server in a child process; killed when dropped.
struct ServerProcess {
    process: TestProcess,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(options: &[(&str, &str)]) -> ServerProcess {
        let process = TestProcess::server(SERVER, PREFIX, options, LISTENING);
        let addr = process.addr;
        ServerProcess { process, addr }
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Open file descriptors of the server process.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    fn rss(&self) -> usize {
        rss_of(self.pid())
    }

    /// Samples the server's RSS every few milliseconds until the returned
    /// guard is dropped; the guard holds the peak. A sampler can miss a
    /// peak shorter than its period, so the bounds below leave room.
    fn watch_rss(&self) -> RssPeak {
        let peak = Arc::new(AtomicUsize::new(self.rss()));
        let pid = self.pid();
        let sampler = {
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_of(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        RssPeak { peak, sampler }
    }
}

struct RssPeak {
    peak: Arc<AtomicUsize>,
    sampler: tokio::task::JoinHandle<()>,
}

impl RssPeak {
    fn stop(self) -> usize {
        self.sampler.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

fn rss_of(pid: u32) -> usize {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const MIB: usize = 1 << 20;

/// Writes `flood` into `stream` until the server closes it; the close code
/// the server sent. The server stops reading at its limit: the rest of the
/// flood may not be taken.
async fn close_code_under(stream: TcpStream, flood: Arc<Vec<u8>>) -> u16 {
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&flood).await;
        write
    });
    let code = timeout(WAIT, close_code(&mut read))
        .await
        .expect("no close frame within the wait");
    writer.abort();
    code
}

/// Reads until the server closes; `true` when it did within the wait (a
/// reset counts: the server let go of the socket either way).
async fn server_hangs_up(stream: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut sink)).await.is_ok()
}

/// 300 peers send a request line and one header, then nothing. Each costs
/// the server a descriptor and a task until `handshake_timeout` drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_handshakes_are_dropped() {
    const PEERS: usize = 300;
    // Eight waves: the allocator's noise between two waves (up to 3.5 MiB
    // measured with HTTP/2 and TLS served too, none of it growing over 12
    // waves) is spread over six, while a leak of 8 KiB per connection still
    // adds 2.3 MiB each.
    const WAVES: usize = 8;
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    let server = ServerProcess::start(&[("HANDSHAKE_TIMEOUT", "500ms")]);
    let fds_before = server.fds();
    let rss_before = server.rss();
    let mut rss_after_wave = Vec::new();
    let mut peak_growth = 0;
    for wave in 0..WAVES {
        let watch = server.watch_rss();
        let mut peers = Vec::with_capacity(PEERS);
        for _ in 0..PEERS {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream
                .write_all(b"GET /ws HTTP/1.1\r\nHost: flood\r\n")
                .await
                .unwrap();
            peers.push(stream);
        }
        let held_at_peak = server.fds().saturating_sub(fds_before);
        let mut waits = JoinSet::new();
        for mut stream in peers {
            waits.spawn(async move { (server_hangs_up(&mut stream).await, stream) });
        }
        let mut hung_up = 0;
        // Kept open until counted: a peer's own close would free the server's side.
        let mut kept = Vec::with_capacity(PEERS);
        while let Some(waited) = waits.join_next().await {
            let (dropped, stream) = waited.unwrap();
            hung_up += usize::from(dropped);
            kept.push(stream);
        }
        let held_after_wait = server.fds().saturating_sub(fds_before);
        drop(kept);
        let peak = watch.stop();
        peak_growth = peak_growth.max(peak.saturating_sub(rss_before));
        eprintln!(
            "wave {wave}: {held_at_peak} held after connecting, {hung_up}/{PEERS} dropped by the server, \
             {held_after_wait} still held after the wait, RSS peak +{} KiB",
            peak.saturating_sub(rss_before) >> 10
        );
        assert_eq!(
            hung_up, PEERS,
            "the server still holds half-sent handshakes"
        );
        crate::support::eventually("the server's descriptors back to baseline", || {
            server.fds() <= fds_before
        })
        .await;
        rss_after_wave.push(server.rss());
    }
    // A half-sent handshake costs the server hyper's connection state: an
    // 8 KiB read buffer, the connection future and the task, well under
    // 32 KiB; 300 of them 9.4 MiB, plus 8 MiB of allocator and runtime slack.
    let bound = PEERS * 32 * 1024 + 8 * MIB;
    assert!(
        peak_growth < bound,
        "RSS grew by {} KiB while holding {PEERS} half-sent handshakes; bound {} KiB",
        peak_growth >> 10,
        bound >> 10
    );
    // Nothing accumulates across waves. The first waves warm up the
    // allocator's arenas; after them, a leak of even the 8 KiB read buffer
    // of each dropped connection would add 2.3 MiB per wave, 7 MiB over the
    // last three. Half of that is left to the allocator's own retention
    // (1.6 MiB measured on an idle machine).
    let leaked = rss_after_wave[WAVES - 1].saturating_sub(rss_after_wave[1]);
    let bound = (WAVES - 2) * PEERS * 8 * 1024 / 2;
    eprintln!(
        "RSS after each wave: {:?} KiB",
        rss_after_wave.iter().map(|r| r >> 10).collect::<Vec<_>>()
    );
    assert!(
        leaked < bound,
        "RSS grew by {} KiB from the second wave to the last; bound {} KiB",
        leaked >> 10,
        bound >> 10
    );
}

/// A raw client past the handshake, with the streams split so that a
/// flooding writer does not keep the close frame from being read.
async fn raw_upgrade(addr: SocketAddr, extra_headers: &str) -> TcpStream {
    let (status, stream) = handshake_status(addr, extra_headers).await;
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    stream
}

fn upgrade_request(addr: SocketAddr, extra_headers: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
    )
}

/// The response head, read byte by byte so that no frame is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = timeout(WAIT, stream.read_u8())
            .await
            .expect("no response head within the wait")
            .expect("the server closed before answering");
        head.push(byte);
    }
    String::from_utf8(head).unwrap()
}

/// A masked client frame with a 1-byte payload.
fn tiny_frame(opcode: u8, fin: bool) -> [u8; 7] {
    let mask = [0x11, 0x22, 0x33, 0x44];
    [
        opcode | if fin { 0x80 } else { 0 },
        0x80 | 1,
        mask[0],
        mask[1],
        mask[2],
        mask[3],
        b'a' ^ mask[0],
    ]
}

/// Reads server frames until a close frame; its code.
async fn close_code(read: &mut tokio::net::tcp::OwnedReadHalf) -> u16 {
    loop {
        let mut head = [0u8; 2];
        read.read_exact(&mut head).await.unwrap();
        let len = match head[1] & 0x7f {
            126 => usize::from(read.read_u16().await.unwrap()),
            127 => usize::try_from(read.read_u64().await.unwrap()).unwrap(),
            n => usize::from(n),
        };
        let mut payload = vec![0; len];
        read.read_exact(&mut payload).await.unwrap();
        if head[0] & 0x0f == 0x8 {
            return close_payload(&payload).0;
        }
    }
}

/// Peers each send a text frame without FIN, then 1-byte continuation
/// frames past `max_message_size`: the assembled size is what counts, so
/// each is closed with 1009, and the server holds at most one partial
/// message per connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_floods_are_bounded_by_max_message_size() {
    const PEERS: usize = 20;
    const MAX: usize = 64 * 1024;
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-files limit");
    // The fragment count is not what this measures (by default the
    // 1,025th frame closes with 1008: see `endless_continuations_...`).
    let server = ServerProcess::start(&[("MAX_MESSAGE_SIZE", "64KiB"), ("MAX_FRAGMENTS", "0")]);
    let rss_before = server.rss();
    let watch = server.watch_rss();
    // One byte more than the limit, then a margin the server should never read.
    let mut flood = tiny_frame(0x1, false).to_vec();
    for _ in 0..MAX + 1024 {
        flood.extend_from_slice(&tiny_frame(0x0, false));
    }
    let flood = Arc::new(flood);
    let mut peers = JoinSet::new();
    for _ in 0..PEERS {
        let stream = raw_upgrade(server.addr, "").await;
        let flood = Arc::clone(&flood);
        peers.spawn(close_code_under(stream, flood));
    }
    let mut codes = Vec::new();
    while let Some(code) = peers.join_next().await {
        codes.push(code.unwrap());
    }
    let growth = watch.stop().saturating_sub(rss_before);
    eprintln!(
        "{PEERS} fragment floods of {} frames: codes {codes:?}, RSS peak +{} KiB",
        MAX + 1025,
        growth >> 10
    );
    assert!(codes.iter().all(|&code| code == 1009), "{codes:?}");
    // Per peer: the partial message (up to MAX, doubled by Vec growth), the
    // read buffer and the connection's own state, within 4 x MAX; plus
    // 8 MiB of allocator and runtime slack. Buffering the frames themselves
    // (7 bytes each on the wire, a heap frame each once parsed) would be
    // tens of MiB per peer.
    let bound = PEERS * 4 * MAX + 8 * MIB;
    assert!(
        growth < bound,
        "RSS grew by {} KiB; bound {} KiB",
        growth >> 10,
        bound >> 10
    );
}

/// Sends an upgrade request with `extra_headers`; the status line of the
/// answer, and the stream (held open, so an admitted connection stays).
async fn handshake_status(addr: SocketAddr, extra_headers: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(upgrade_request(addr, extra_headers).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, stream)
}

fn forwarded(ip: &str) -> String {
    format!("X-Forwarded-For: {ip}\r\n")
}

#[tokio::test]
async fn per_ip_cap_answers_503_and_frees_with_the_connection() {
    let server = Server::start(Test::CONFIG.with_max_per_ip(2)).await;
    let url = server.url("");
    let first = crate::support::Client::connect(&url).await;
    let _second = crate::support::Client::connect(&url).await;
    let (status, retry_after) = crate::support::Client::refused(&url).await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("1"));
    drop(first);
    server
        .until("the first slot freed", |m| m.admitted() == 1)
        .await;
    let _third = crate::support::Client::connect(&url).await;
}

#[tokio::test]
async fn handshake_rate_answers_429() {
    // 3 per minute: the fourth handshake within the test cannot be refilled.
    let rate = ws_core::RateLimit::new(3, Duration::from_secs(60));
    let server = Server::start(Test::CONFIG.with_handshake_rate(Some(rate))).await;
    let url = server.url("");
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(crate::support::Client::connect(&url).await);
    }
    let (status, _) = crate::support::Client::refused(&url).await;
    assert_eq!(status, 429);
    // Closing connections gives no handshakes back: it is a rate, not a cap.
    drop(kept);
    let (status, _) = crate::support::Client::refused(&url).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let trusted = Server::start(Test::CONFIG.with_max_per_ip(1).with_trusted_proxies(vec![
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap().into(),
    ]))
    .await;
    // Behind the trusted proxy each forwarded client has its own cap.
    let (a, _a) = handshake_status(trusted.addr, &forwarded("198.51.100.1")).await;
    let (b, _b) = handshake_status(trusted.addr, &forwarded("198.51.100.2")).await;
    let (again, _) = handshake_status(trusted.addr, &forwarded("198.51.100.1")).await;
    assert!(a.starts_with("HTTP/1.1 101"), "{a}");
    assert!(b.starts_with("HTTP/1.1 101"), "{b}");
    assert!(again.starts_with("HTTP/1.1 503"), "{again}");
    // A client's own claim left of the proxy's entry is not believed.
    let (spoofed, _) =
        handshake_status(trusted.addr, &forwarded("198.51.100.9, 198.51.100.1")).await;
    assert!(spoofed.starts_with("HTTP/1.1 503"), "{spoofed}");

    // From a peer that is not a trusted proxy the header is ignored: every
    // connection here is 127.0.0.1's, whatever it claims.
    let untrusted = Server::start(
        Test::CONFIG
            .with_max_per_ip(1)
            .with_trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()]),
    )
    .await;
    let (a, _a) = handshake_status(untrusted.addr, &forwarded("198.51.100.1")).await;
    let (b, _) = handshake_status(untrusted.addr, &forwarded("198.51.100.2")).await;
    assert!(a.starts_with("HTTP/1.1 101"), "{a}");
    assert!(b.starts_with("HTTP/1.1 503"), "{b}");
}

#[tokio::test]
async fn authenticate_counts_against_the_handshake_timeout() {
    let server =
        Server::start(Test::CONFIG.with_handshake_timeout(Duration::from_millis(200))).await;
    let (status, retry_after) = crate::support::Client::refused(&server.url("?stall")).await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("1"));
    server.until("the slot freed", |m| m.admitted() == 0).await;
}

/// Issue: 8 peers that each sent 300,000 pings and never read grew the
/// release server from 4 MB to 320 MB: a pong was owed per ping. Now a peer
/// is owed at most the 16 newest pongs (a few pings before a read are each
/// answered, Autobahn 2.10), so what reaches it is bounded by the socket
/// buffers, and the server's memory does not grow with the pings.
///
/// The peers' receive buffer is fixed (which turns off autotuning, up to
/// 32 MiB here) yet larger than a loopback segment (64 KiB): an earlier
/// 4 KiB buffer dropped whole segments, acknowledgements with them, and one
/// run in ten stalled in retransmission back-off. Sabotage (a pong per
/// ping): +44 MiB and about 38,000 pongs per peer, red on both asserts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_owed_one_pong() {
    const PEERS: usize = 4;
    const PINGS: usize = 100_000;
    const RCVBUF: u32 = 256 * 1024;
    let server = ServerProcess::start(&[]);
    // A client-masked ping with a 125-byte payload (the most a control frame carries).
    let mut ping = vec![0x89, 0x80 | 125, 1, 2, 3, 4];
    ping.extend((0..125u8).map(|i| i ^ [1, 2, 3, 4][usize::from(i) % 4]));
    let flood: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * PINGS)
        .collect();
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(RawClient::connect_with(server.addr, Some(RCVBUF)).await);
    }
    // An observer learns when each peer's pings were all read: the peer's
    // `say` after them reaches the observer then (a connection's frames are
    // handled in order).
    let mut observer = crate::support::Client::connect(&format!("ws://{}/ws", server.addr)).await;
    observer.join("flooded").await;
    observer.sync().await;
    let rss_before = server.rss();
    // One peer at a time: the server reads each flood whole (the observer
    // sees its `done`) before the next starts, so the waits stay short on a
    // loaded machine; the pongs owed to the peers add up all the same, as
    // none of them reads.
    for peer in &mut peers {
        peer.stream.write_all(&flood).await.unwrap();
        peer.send_text(r#"{"type":"say","room":"flooded","text":"done"}"#)
            .await;
        peer.send_text(r#"{"type":"echo","text":"after"}"#).await;
        let done = observer.recv_within(Duration::from_secs(60)).await;
        assert_eq!(done["text"], "done");
    }
    // Every ping read, no pong read: the server holds all it owes.
    let growth = server.rss().saturating_sub(rss_before);
    let mut pongs = Vec::new();
    for peer in &mut peers {
        let mut count = 0usize;
        loop {
            let (opcode, payload) = peer.next_frame().await;
            match opcode {
                0xA => count += 1,
                0x1 => {
                    assert_eq!(payload, br#"{"type":"echo","text":"after"}"#);
                    break;
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
        pongs.push(count);
    }
    // Owed a pong per ping, the server would hold 4 x 100,000 pongs of 127
    // bytes (plus a Bytes and its allocation each), less the 4.5 MiB per
    // peer the kernel buffers (measured: +44 MiB). Owed at most 16, it holds
    // what it held before; 8 MiB leaves room for the allocator's slack after
    // 50 MB of reads.
    let bound = 8 * MIB;
    eprintln!(
        "{PEERS} x {PINGS} pings: pongs received {pongs:?}; server RSS +{} KiB (bound {} KiB)",
        growth >> 10,
        bound >> 10
    );
    assert!(growth < bound, "the server grew by {} KiB", growth >> 10);
    // What reached each peer is bounded by the kernel's buffers between the
    // two sockets (this client's receive buffer, doubled by the kernel, and
    // the server's send buffer, at most the system's maximum), in 127-byte
    // pongs.
    let wmem: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    // (The kernel doubles a requested receive buffer for its bookkeeping.)
    let per_peer = ((wmem + 2 * RCVBUF as usize) / 127 + 1).min(PINGS / 2);
    assert!(
        pongs.iter().all(|&n| n <= per_peer),
        "{pongs:?} pongs for {PINGS} pings each (bound {per_peer})"
    );
}

/// The server process's CPU time so far (user and system), from
/// `/proc/PID/stat` (clock ticks of 10 ms).
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A masked client frame: `first` (FIN, RSV1, opcode) and `payload`.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc4, 0x7e];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    frame
}

/// What a client compresses: raw deflate, sync flush, tail removed.
fn deflated(payload: &[u8]) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    compress
        .compress_vec(payload, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    out.truncate(out.len() - 4);
    out
}

/// Writes `frame` over and over on `stream` at about `rate` bytes a second
/// until `until`; the bytes the socket took. A server that does not read
/// makes the writes wait: what it takes is what it could be made to handle.
async fn flood_at(
    stream: &mut tokio::net::tcp::OwnedWriteHalf,
    frame: &[u8],
    rate: usize,
    until: tokio::time::Instant,
) -> usize {
    // Batches of about 10 ms worth, at least one frame, each on its time.
    let batch: Vec<u8> = frame.repeat((rate / 100).div_ceil(frame.len()).max(1));
    let tick = Duration::from_secs_f64(batch.len() as f64 / rate as f64);
    let mut sent = 0;
    let mut next = tokio::time::Instant::now();
    while next < until {
        match tokio::time::timeout_at(until, stream.write_all(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            _ => break,
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    sent
}

/// Round trips of an uncompressed echo, one every 20 ms until `until`.
async fn round_trips(addr: SocketAddr, until: tokio::time::Instant) -> Vec<Duration> {
    let mut client = RawClient::connect(addr).await;
    let mut trips = Vec::new();
    while tokio::time::Instant::now() < until {
        let sent = std::time::Instant::now();
        client.send_text(r#"{"type":"echo","text":"ping"}"#).await;
        let (opcode, _) = timeout(WAIT, client.next_frame())
            .await
            .expect("no echo within the wait");
        assert_eq!(opcode, 0x1);
        trips.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    trips
}

/// One phase of the inflation test: `PEERS` connections each send `frame`
/// at `rate` wire bytes a second for `FLOOD`, while a well-behaved client
/// times its round trips. The server's CPU time over the phase, the wire
/// bytes the server took, and the slowest round trip.
async fn flood_phase(
    server: &ServerProcess,
    frame: &[u8],
    rate: usize,
    offer: &str,
) -> (Duration, usize, Duration) {
    const PEERS: usize = 3;
    const FLOOD: Duration = Duration::from_secs(3);
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(raw_upgrade(server.addr, offer).await.into_split());
    }
    let cpu_before = cpu_of(server.pid());
    let until = tokio::time::Instant::now() + FLOOD;
    let mut floods = JoinSet::new();
    for (read, mut write) in peers {
        let frame = frame.to_vec();
        floods.spawn(async move {
            let sent = flood_at(&mut write, &frame, rate, until).await;
            (sent, read, write)
        });
    }
    let trips = round_trips(server.addr, until).await;
    let mut sent = 0;
    let mut held = Vec::new();
    while let Some(flood) = floods.join_next().await {
        let (bytes, read, write) = flood.unwrap();
        sent += bytes;
        held.push((read, write));
    }
    let cpu = cpu_of(server.pid()) - cpu_before;
    drop(held);
    let slowest = trips.iter().max().copied().unwrap_or_default();
    (cpu, sent, slowest)
}

/// A flood of small compressed frames that each inflate to about 60 KiB
/// (the report: three connections at 1 MB/s each kept a core busy
/// inflating 480 times what they sent, and other clients waited 0.3 s for
/// an echo) costs the server at most a few times what the same bytes sent
/// uncompressed cost it, and a well-behaved client's round trips stay
/// short: the inflation budgets (`inflate_rate`, `inflate_node_rate`,
/// on by default) pause a connection's reading once it has had its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_flood_costs_a_few_times_the_same_flood_uncompressed() {
    // The same wire rate the report measured, per connection.
    const RATE: usize = 1 << 20;
    let server = ServerProcess::start(&[]);
    let message = format!(
        r#"{{"type":"say","room":"nobody","text":"{}"}}"#,
        "a".repeat(60 * 1024)
    );
    let compressed = masked(0x80 | 0x40 | 0x1, &deflated(message.as_bytes()));
    let plain = masked(0x80 | 0x1, message.as_bytes());
    eprintln!(
        "a {}-byte message: {} bytes compressed on the wire, {} plain",
        message.len(),
        compressed.len(),
        plain.len()
    );
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    // Plain first: what the compressed peers leave in the socket buffers
    // is still read (at the budget's pace) after their phase.
    let (cpu_plain, sent_plain, slowest_plain) = flood_phase(&server, &plain, RATE, "").await;
    let (cpu_deflate, sent_deflate, slowest_deflate) =
        flood_phase(&server, &compressed, RATE, offer).await;
    let inflated = sent_deflate / compressed.len() * message.len();
    eprintln!(
        "compressed: {} KiB taken (at most {} MiB once inflated), server CPU {cpu_deflate:?}, \
         slowest round trip {slowest_deflate:?}; plain: {} KiB taken, server CPU {cpu_plain:?}, \
         slowest round trip {slowest_plain:?}",
        sent_deflate >> 10,
        inflated >> 20,
        sent_plain >> 10,
    );
    // "A few times", and 150 ms for what a 10 ms clock tick and an idle
    // server's own timers cannot resolve over a 3 s phase. Unbounded, the
    // compressed phase costs about a core (3 s).
    let bound = 4 * cpu_plain + Duration::from_millis(150);
    assert!(
        cpu_deflate <= bound,
        "the compressed flood cost the server {cpu_deflate:?} of CPU, the plain one \
         {cpu_plain:?}; bound {bound:?}"
    );
    // The node's budget alone holds the same flood.
    let node_only =
        ServerProcess::start(&[("INFLATE_RATE", "off"), ("INFLATE_NODE_RATE", "3MiB/s")]);
    let (cpu_node, _, slowest_node) = flood_phase(&node_only, &compressed, RATE, offer).await;
    eprintln!("node budget only: server CPU {cpu_node:?}, slowest round trip {slowest_node:?}");
    assert!(
        cpu_node <= bound,
        "with the node's budget only, the compressed flood cost the server {cpu_node:?}; \
         bound {bound:?}"
    );
    // Generous: a scheduler on a loaded machine, not the flood, is what
    // this leaves room for (unbounded: 0.2 to 0.35 s in the report).
    assert!(
        slowest_deflate < Duration::from_millis(150),
        "a well-behaved client waited {slowest_deflate:?} for an echo during the flood"
    );
}

/// A message kept open by empty continuation frames (6 bytes each on the
/// wire) is closed with 1008 at `max_fragments`, and one whose fragments
/// trickle in at `fragment_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_continuations_are_closed_with_1008() {
    let server = ServerProcess::start(&[]);
    let cpu_before = cpu_of(server.pid());
    let stream = raw_upgrade(server.addr, "").await;
    let mut flood = masked(0x1, b"{");
    let empty = masked(0x0, b"");
    for _ in 0..1_000_000 {
        flood.extend_from_slice(&empty);
    }
    let code = close_code_under(stream, Arc::new(flood)).await;
    eprintln!(
        "a million empty continuations: close {code}, server CPU {:?}",
        cpu_of(server.pid()) - cpu_before
    );
    assert_eq!(code, 1008);

    let slow = ServerProcess::start(&[("MAX_FRAGMENTS", "0"), ("FRAGMENT_TIMEOUT", "1s")]);
    let (mut read, mut write) = raw_upgrade(slow.addr, "").await.into_split();
    write.write_all(&masked(0x1, b"{")).await.unwrap();
    let began = std::time::Instant::now();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(&empty).await.is_err() {
                return;
            }
        }
    });
    let code = timeout(WAIT, close_code(&mut read))
        .await
        .expect("no close frame within the wait");
    trickle.abort();
    let took = began.elapsed();
    eprintln!("a message trickling in: close {code} after {took:?}");
    assert_eq!(code, 1008);
    assert!(took >= Duration::from_secs(1), "{took:?}");
}
