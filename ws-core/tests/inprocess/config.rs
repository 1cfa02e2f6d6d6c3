//! One validated configuration: the builder's door refuses what the
//! attribute and the environment refuse, with the same message, and the chat
//! example exits 2 with it.

use std::time::Duration;

use ws_core::{Config, Manager, RateLimit};

use crate::support::Test;

fn refused(
    build: impl FnOnce(ws_core::ManagerBuilder<Test>) -> ws_core::ManagerBuilder<Test>,
) -> String {
    match build(Manager::<Test>::builder()).try_build() {
        Ok(manager) => panic!("accepted {:?}", manager.config()),
        Err(error) => error.to_string(),
    }
}

/// Every option at zero through the builder. Negative and malformed values
/// cannot be written there (the setters take `usize`, `Duration`, enums);
/// the largest values are valid.
#[tokio::test]
async fn the_builder_refuses_every_zero() {
    let s = Duration::from_secs;
    assert_eq!(
        refused(|b| b.send_queue(0)),
        r#"send_queue must be a whole number of frames of at least 1, like "256""#
    );
    assert_eq!(
        refused(|b| b.max_message_size(0)),
        r#"max_message_size must be a non-zero size like "64KiB" or "1MiB""#
    );
    assert_eq!(
        refused(|b| b.heartbeat(Some(Duration::ZERO))),
        r#"heartbeat must be a non-zero duration like "30s" or "off""#
    );
    assert_eq!(
        refused(|b| b.idle_timeout(Some(Duration::ZERO))),
        r#"idle_timeout must be a non-zero duration like "60s" or "off""#
    );
    let rate = r#"rate_limit must be a rate of at least 1 message per non-zero period, like "20/s", "600/m" or "5/500ms", or "off""#;
    assert_eq!(
        refused(|b| b.rate_limit(Some(RateLimit::new(0, s(1))))),
        rate
    );
    assert_eq!(
        refused(|b| b.rate_limit(Some(RateLimit::new(1, Duration::ZERO)))),
        rate
    );
    assert_eq!(
        refused(|b| b.rate_limit(Some(RateLimit::new(1, s(1)).with_burst(0)))),
        r#"rate_burst must be a whole number of at least 1, like "40", with a rate_limit"#
    );
    assert_eq!(
        refused(|b| b.config(Config::DEFAULT.with_read_buffer(0))),
        r#"read_buffer must be a non-zero size like "1KiB""#
    );
    assert_eq!(
        refused(|b| b.config(Config::DEFAULT.with_write_buffer(0))),
        r#"write_buffer must be a non-zero size like "64KiB""#
    );
    assert_eq!(
        refused(|b| b.heartbeat(Some(s(5))).idle_timeout(Some(s(5)))),
        r#"idle_timeout (5s) must be longer than heartbeat (5s), or "off": a peer that answers every ping would still be closed as idle"#
    );
    // Zero means unlimited here, and the largest values are taken as given.
    let manager = Manager::<Test>::builder()
        .max_connections(0)
        .max_per_user(0)
        .send_queue(usize::MAX)
        .max_message_size(usize::MAX)
        .rate_limit(Some(RateLimit::new(u32::MAX, s(1)).with_burst(u32::MAX)))
        .try_build()
        .unwrap();
    assert_eq!(manager.config().send_queue(), usize::MAX);
}

#[tokio::test]
#[should_panic(expected = "invalid ws_core::Config: send_queue must be")]
async fn build_panics_with_the_message() {
    let _ = Manager::<Test>::builder().send_queue(0).build();
}
