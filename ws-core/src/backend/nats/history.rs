//! Rooms' histories in JetStream: one stream per room, its sequence the
//! room's offsets, a random name given when it was made the epoch (see the
//! module above).
//!
//! A stream is made by the first record or read of its room, by whichever
//! node comes first; the others find it. Each stored message is
//! republished by the server to the room's fan-out subject with its
//! sequence, which is how every node, the recording one too, receives it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{
    self, DiscardPolicy, LastRawMessageErrorKind, Republish, StorageType,
};
use futures_util::{StreamExt, TryStreamExt};

use super::{Nats, State};
use crate::backend::{BackendError, Channel, HistoryBounds, Outcome, Read};

/// Header of a recorded message: the node that recorded it.
pub(super) const NODE: &str = "Ws-Node";
/// Header of a recorded message: when it was sent, µs since the epoch.
pub(super) const SENT: &str = "Ws-Sent";
/// Header the server adds to a republished message: its stream sequence.
pub(super) const SEQUENCE: &str = "Nats-Sequence";

/// Messages of a resume read from the stream at once.
const READS_IN_FLIGHT: usize = 32;

fn failed(error: impl std::error::Error + Send + Sync + 'static) -> BackendError {
    BackendError::Failed(Box::new(error))
}

/// What a stream's description says before its epoch.
const EPOCH_IS: &str = "; epoch ";

/// A stream's epoch: a random name given when it was made, kept in its
/// description (which a restarted server reads back as it was; its
/// creation time it may not). 16 hex digits: within `MAX_EPOCH`, nothing
/// JSON escapes.
fn epoch_of(info: &stream::Info) -> Arc<str> {
    let described = info.config.description.as_deref().and_then(|d| {
        let (_, epoch) = d.rsplit_once(EPOCH_IS)?;
        (epoch.len() == 16 && epoch.bytes().all(|b| b.is_ascii_hexdigit())).then_some(epoch)
    });
    match described {
        Some(epoch) => Arc::from(epoch),
        // Not made by this engine: its creation time, in hex.
        None => Arc::from(format!("{:x}", info.created.unix_timestamp_nanos())),
    }
}

/// The configuration of `room`'s stream.
fn config(state: &State, room: &str, bounds: HistoryBounds) -> stream::Config {
    let subject = state.names.record_subject(room);
    stream::Config {
        name: state.names.stream(room),
        subjects: vec![subject.clone()],
        max_messages: i64::try_from(bounds.count.max(1)).unwrap_or(i64::MAX),
        max_age: bounds.ttl.unwrap_or(Duration::ZERO),
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        republish: Some(Republish {
            source: subject,
            destination: state.names.subject(&Channel::Room(Arc::from(room))),
            headers_only: false,
        }),
        description: Some(format!(
            "ws-core: the history of a room{EPOCH_IS}{:016x}",
            crate::backend::node_id()
        )),
        ..Default::default()
    }
}

/// The room's stream as it is now (made if there is none), and its epoch,
/// which is remembered for the room.
pub(super) async fn ensure(
    state: &State,
    nats: &Nats,
    room: &Arc<str>,
) -> Result<(stream::Info, Arc<str>), BackendError> {
    let bounds = state.history.ok_or(BackendError::Unavailable)?;
    let config = config(state, room, bounds);
    let stream = match nats.js.get_or_create_stream(config.clone()).await {
        Ok(stream) => stream,
        // Made by another node between our look and our create.
        Err(_) => nats.js.get_stream(&config.name).await.map_err(failed)?,
    };
    let info = stream.cached_info().clone();
    let epoch = epoch_of(&info);
    state
        .epochs
        .lock()
        .insert(Arc::clone(room), Arc::clone(&epoch));
    Ok((info, epoch))
}

/// The bodies of `room`'s messages `from..=to`, in order; `None` if one of
/// them is gone (trimmed, or deleted).
pub(super) async fn messages(
    state: &State,
    nats: &Nats,
    room: &str,
    from: u64,
    to: u64,
) -> Result<Option<Vec<Vec<u8>>>, BackendError> {
    if from > to {
        return Ok(Some(Vec::new()));
    }
    let stream = nats.js.get_stream_no_info(state.names.stream(room)).await;
    let stream = stream.map_err(failed)?;
    let got: Vec<Option<Vec<u8>>> = futures_util::stream::iter(from..=to)
        .map(|sequence| {
            let stream = &stream;
            async move {
                match stream.get_raw_message(sequence).await {
                    Ok(message) => Ok(Some(message.payload.to_vec())),
                    Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => {
                        Ok(None)
                    }
                    Err(error) => Err(failed(error)),
                }
            }
        })
        .buffered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(got.into_iter().collect())
}

/// See [`Engine::read`](crate::backend::Engine::read): the stream's head
/// is read only once this node listens to the room, and read again if the
/// connection changed meanwhile.
pub(super) async fn read(
    state: Arc<State>,
    room: Arc<str>,
    since: Option<(String, u64)>,
    max: usize,
) -> Result<Read, BackendError> {
    let channel = Channel::Room(Arc::clone(&room));
    loop {
        let generation = state.listening(&channel).await?;
        let nats = state.nats().ok_or(BackendError::Unavailable)?;
        let (info, epoch) = ensure(&state, &nats, &room).await?;
        let head = info.state.last_sequence;
        let outcome = match &since {
            None => Outcome::Fresh,
            Some((theirs, offset)) if **theirs != *epoch || *offset > head => Outcome::EpochChanged,
            Some((_, offset)) => {
                let want = head - offset;
                if want > max as u64 || offset + 1 < info.state.first_sequence {
                    Outcome::TooFarBehind
                } else {
                    match messages(&state, &nats, &room, offset + 1, head).await? {
                        Some(bodies) => Outcome::Recovered(bodies),
                        None => Outcome::TooFarBehind,
                    }
                }
            }
        };
        if state.generation.load(std::sync::atomic::Ordering::Acquire) == generation
            && state.shared.is_up()
        {
            return Ok(Read {
                epoch: epoch.to_string(),
                head,
                outcome,
            });
        }
        tracing::debug!(%room, "nats backend: reconnected under a read; reading again");
    }
}

/// Ends the histories of `rooms` (recorded on this node alone while NATS
/// was out of reach): their streams are deleted, so the next record or
/// read makes one with a new epoch.
pub(super) async fn end(
    state: &State,
    nats: &Nats,
    rooms: &[Arc<str>],
) -> Result<(), BackendError> {
    for room in rooms {
        state.epochs.lock().remove(room);
        match nats.js.delete_stream(state.names.stream(room)).await {
            Ok(_) => {}
            Err(error)
                if matches!(error.kind(), GetStreamErrorKind::JetStream(ref e)
                    if e.error_code() == ErrorCode::STREAM_NOT_FOUND) => {}
            Err(error) => return Err(failed(error)),
        }
    }
    Ok(())
}
