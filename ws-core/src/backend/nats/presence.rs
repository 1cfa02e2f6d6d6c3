//! Presence in a JetStream key-value bucket whose `max_age` is the
//! presence TTL (see the module above for the keys).
//!
//! This node's entries, as last written, are kept in [`State::entries`]:
//! the control task writes what changed, rewrites all of them a few times
//! per TTL (so they never age out while the node lives) and after every
//! reconnection (a restarted server may have lost the bucket, which is in
//! memory). A query reads the last value of every key under a filter
//! through one ordered consumer, skips this node's (it answers for itself)
//! and the deleted ones.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, push};
use async_nats::jetstream::kv;
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{Names, Nats, State};
use crate::backend::{BackendError, Channel, Entry, merge_entries};

fn failed(error: impl std::error::Error + Send + Sync + 'static) -> BackendError {
    BackendError::Failed(Box::new(error))
}

/// The presence bucket, made if there is none.
pub(super) async fn bucket(state: &State, nats: &Nats) -> Result<kv::Store, BackendError> {
    let name = state.names.bucket();
    let store = match nats.js.get_key_value(&name).await {
        Ok(store) => store,
        Err(_) => {
            // The bucket's stream as `create_key_value` makes it, made
            // here: that call first asks for the account's info, whose
            // answer this client cannot parse from NATS 2.9 servers.
            let config = stream::Config {
                name: format!("KV_{name}"),
                description: Some("ws-core: connections per room and user, per node".to_owned()),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                max_age: state.presence_ttl,
                storage: StorageType::Memory,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: DiscardPolicy::New,
                num_replicas: 1,
                duplicate_window: state.presence_ttl.min(Duration::from_secs(120)),
                ..Default::default()
            };
            // Made by another node meanwhile: found below all the same.
            let _ = nats.js.create_stream(config).await;
            nats.js.get_key_value(&name).await.map_err(failed)?
        }
    };
    *state.kv.lock() = Some(store.clone());
    Ok(store)
}

/// The value of who is in a room on one node.
pub(super) fn users_value(now: &[Entry]) -> Bytes {
    let entries: Vec<(&str, usize, Vec<&str>)> = now
        .iter()
        .map(|(user, n, metas)| (&**user, *n, metas.iter().map(|meta| &**meta).collect()))
        .collect();
    Bytes::from(serde_json::to_vec(&entries).unwrap_or_default())
}

/// Writes `changes` (a key and its value, or `None` to delete it) into the
/// bucket, all at once, and notes them in [`State::entries`] first (a
/// write that fails is made again by the next refresh).
pub(super) async fn write(
    state: &State,
    changes: Vec<(String, Option<Bytes>)>,
) -> Result<(), BackendError> {
    if changes.is_empty() {
        return Ok(());
    }
    {
        let mut entries = state.entries.lock();
        for (key, value) in &changes {
            match value {
                Some(value) => entries.insert(key.clone(), value.clone()),
                None => entries.remove(key),
            };
        }
    }
    let kv = state.kv().ok_or(BackendError::Unavailable)?;
    let writes = changes.into_iter().map(|(key, value)| {
        let kv = kv.clone();
        async move {
            match value {
                Some(value) => kv.put(key, value).await.map(drop).map_err(failed),
                None => kv.purge(key).await.map_err(failed),
            }
        }
    });
    for result in futures_util::future::join_all(writes).await {
        result?;
    }
    Ok(())
}

/// Rewrites every entry of this node, so that none ages out.
pub(super) async fn refresh(state: &State) -> Result<(), BackendError> {
    let all: Vec<(String, Option<Bytes>)> = state
        .entries
        .lock()
        .iter()
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    write(state, all).await
}

/// The last value of every live key matching `filter` (a key with `*`),
/// but this node's: `(key, value)`.
async fn read(state: &State, filter: &str) -> Result<Vec<(String, Bytes)>, BackendError> {
    let kv = state.kv().ok_or(BackendError::Unavailable)?;
    let nats = state.nats().ok_or(BackendError::Unavailable)?;
    let consumer = kv
        .stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: nats.client.new_inbox(),
            description: Some("ws-core presence query".to_owned()),
            filter_subject: format!("{}{filter}", kv.prefix),
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(failed)?;
    let pending = consumer.cached_info().num_pending;
    let mut messages = consumer.messages().await.map_err(failed)?;
    let own = format!(".{}", state.shared.node);
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + state.response_timeout;
    for _ in 0..pending {
        let message = tokio::time::timeout_at(deadline, messages.next())
            .await
            .map_err(|_| BackendError::Unavailable)?
            .ok_or(BackendError::Unavailable)?
            .map_err(failed)?;
        let deleted = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("KV-Operation"))
            .is_some();
        let Some(key) = message.subject.strip_prefix(kv.prefix.as_str()) else {
            continue;
        };
        if deleted || key.ends_with(&own) {
            continue;
        }
        found.push((key.to_owned(), message.payload.clone()));
    }
    Ok(found)
}

/// Connections in `channel`'s room or user on every live node but this
/// one.
pub(super) async fn count(state: &State, channel: &Channel) -> Result<usize, BackendError> {
    let Some(filter) = Names::count_key(channel, "*") else {
        return Ok(0);
    };
    let found = read(state, &filter).await?;
    Ok(found
        .iter()
        .filter_map(|(_, value)| std::str::from_utf8(value).ok()?.parse::<usize>().ok())
        .sum())
}

/// Every user of `room` on every live node, by name: `here` for this one.
pub(super) async fn users(
    state: &State,
    room: &str,
    here: Vec<Entry>,
) -> Result<Vec<Entry>, BackendError> {
    let found = read(state, &Names::users_key(room, "*")).await?;
    let others = found.iter().flat_map(|(_, value)| {
        serde_json::from_slice::<Vec<(String, usize, Vec<String>)>>(value).unwrap_or_default()
    });
    Ok(merge_entries(here, others))
}

/// Removes this node's entries (an orderly exit) through `kv`, taken
/// before the tasks stopped; what cannot be removed ages out by itself.
pub(super) async fn withdraw(state: &State, kv: Option<kv::Store>) {
    let keys: Vec<String> = state.entries.lock().drain().map(|(key, _)| key).collect();
    let Some(kv) = kv else { return };
    let purges = futures_util::future::join_all(keys.iter().map(|key| kv.purge(key)));
    let done = tokio::time::timeout(Duration::from_secs(1), purges).await;
    if !done.is_ok_and(|results| results.iter().all(Result::is_ok)) {
        tracing::debug!("nats backend: presence not withdrawn; it ages out by itself");
    }
}
