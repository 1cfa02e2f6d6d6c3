//! The metrics facade: names, labels and values, read through a recorder
//! installed for the manager's construction only (no global state shared
//! with the other tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;
use serde_json::json;
use ws_core::telemetry::metric;
use ws_core::{Config, Manager, Overflow};

use crate::support::{Server, Test};

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().push(value);
    }
}

/// Keeps every metric by `name{labels}`.
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

fn key_string(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::clone(
            self.counters.lock().entry(key_string(key)).or_default(),
        ))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::clone(
            self.gauges.lock().entry(key_string(key)).or_default(),
        ))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::clone(
            self.histograms.lock().entry(key_string(key)).or_default(),
        ))
    }
}

impl TestRecorder {
    fn counter(&self, name: &str) -> u64 {
        let key = format!("{name}{{protocol=Test}}");
        self.counters
            .lock()
            .get(&key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn gauge(&self, name: &str) -> f64 {
        let key = format!("{name}{{protocol=Test}}");
        self.gauges
            .lock()
            .get(&key)
            .map_or(0.0, |g| f64::from_bits(g.load(Ordering::Relaxed)))
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        let key = format!("{name}{{protocol=Test}}");
        self.histograms
            .lock()
            .get(&key)
            .map_or_else(Vec::new, |h| h.0.lock().clone())
    }
}

#[tokio::test]
async fn the_documented_metrics_are_recorded_with_the_protocol_label() {
    let recorder = TestRecorder::default();
    let config = Config::DEFAULT
        .with_max_connections(2)
        .with_send_queue(2)
        .with_on_full(Overflow::DropNewest)
        .with_heartbeat(None)
        .with_idle_timeout(None);
    let manager = metrics::with_local_recorder(&recorder, || Manager::<Test>::with_config(config));
    let server = Server::with_manager(manager).await;

    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let _ = crate::support::Client::refused(&server.url("")).await;
    a.join("r").await;
    b.join("r").await;
    a.sync().await;
    b.sync().await;
    a.send(json!({"type": "say", "room": "r", "text": "hi"}))
        .await;
    a.recv().await;
    b.recv().await;
    a.send(json!({"type": "burst", "count": 5})).await;
    a.sync().await;
    a.send(json!({"type": "nonsense"})).await;
    a.recv().await;

    assert_eq!(recorder.counter(metric::ADMITTED), 2);
    assert_eq!(recorder.counter(metric::REJECTED), 1);
    assert_eq!(recorder.gauge(metric::CONNECTIONS), 2.0);
    assert_eq!(
        recorder.counter(metric::DROPPED),
        3,
        "a burst of 5 into a queue of 2"
    );
    assert_eq!(recorder.counter(metric::INVALID), 1);
    assert!(recorder.counter(metric::QUEUED) >= 6);
    assert!(
        recorder
            .samples(metric::BROADCAST_RECIPIENTS)
            .contains(&2.0),
        "the room send"
    );
    assert!(!recorder.samples(metric::BROADCAST_SECONDS).is_empty());
    assert!(
        recorder
            .samples(metric::QUEUE_DEPTH)
            .iter()
            .any(|&depth| depth >= 2.0)
    );

    a.close(1000, "").await;
    server.until("a gone", |m| m.connections() == 1).await;
    assert_eq!(recorder.gauge(metric::CONNECTIONS), 1.0);
}

#[tokio::test]
async fn the_health_endpoint_reports_and_turns_503_on_shutdown() {
    let server = Server::default().await;
    let url = format!("http://{}/health", server.addr);
    let (status, body) = http_get(&url).await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["connections"], 0);

    server
        .manager
        .shutdown(std::time::Duration::from_secs(1))
        .await;
    let (status, body) = http_get(&url).await;
    assert_eq!(status, 503);
    assert!(body.contains("shutting_down"));
}

/// A bare HTTP/1.1 GET over a TCP socket: enough for one small JSON body.
async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}
