//! Reading: the server's frames decoded in the client's codec, the
//! server's requests answered, the rooms' positions followed.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::Client;
use super::error::ClientError;
use super::event::{Recovery, StateChange};
use crate::correlation::{self, CorrelationId};
use crate::handler::{ErrorFrame, RefreshFrame, RefreshRequired};
use crate::history::{Position, Unrecovered};
use crate::protocol::Protocol;
use crate::wire::close::CloseInfo;
use crate::wire::codec::Codec;

/// The fields of a frame that place it in a room's stream.
#[derive(Deserialize)]
pub(super) struct Place {
    room: Option<String>,
    epoch: Option<String>,
    offset: Option<u64>,
    recovered: Option<bool>,
    reason: Option<serde_json::Value>,
}

/// What the position tracking makes of a frame.
pub(super) enum Tracked {
    Keep,
    /// A recorded message at or before the room's last position: a
    /// duplicate, dropped.
    Duplicate,
    /// The answer to a join.
    Answer(Recovery),
}

/// A frame from the server, decoded, with its correlation id (and, for a
/// recorded message, its position in its room's history).
pub(super) enum Incoming<P> {
    Message(P, Option<CorrelationId>, Option<Position>),
    Error(ErrorFrame, Option<CorrelationId>),
    /// `{"type":"ack","id":..}` (`correlate = "all"`).
    Ack(CorrelationId),
    State(StateChange),
    Recovery(Recovery),
}

impl<P: Protocol> Client<P> {
    /// The next data frame, decoded.
    pub(super) async fn read(&mut self) -> Result<Incoming<P>, ClientError> {
        if let Some(incoming) = self.ahead.take() {
            return Ok(incoming);
        }
        if let Some(info) = &self.closed {
            return Err(ClientError::Closed(info.clone()));
        }
        loop {
            let next = match self.idle_timeout {
                // A frame already buffered is returned even past the
                // deadline: `timeout_at` polls the read first.
                Some(idle) => match timeout_at(self.heard + idle, self.ws.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let silent =
                            CloseInfo::new(1006, format!("nothing received within {idle:?}"));
                        self.closed = Some(Some(silent.clone()));
                        return Err(ClientError::Closed(Some(silent)));
                    }
                },
                None => self.ws.next().await,
            };
            self.heard = Instant::now();
            let frame = match next {
                Some(frame) => frame?,
                None => {
                    self.closed = Some(None);
                    return Err(ClientError::Closed(None));
                }
            };
            let unpacked;
            let text = match &frame {
                Message::Text(text) => text.as_str(),
                Message::Binary(bytes) if self.codec == Codec::MessagePack => {
                    match crate::wire::codec::unpack(bytes) {
                        Ok(json) => {
                            unpacked = json;
                            unpacked.as_str()
                        }
                        Err(error) => {
                            let text = String::from_utf8_lossy(bytes).into_owned();
                            return Err(decode_error(text, &error.to_string()));
                        }
                    }
                }
                Message::Binary(bytes) => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    return Err(decode_error(text, "binary frame"));
                }
                Message::Close(frame) => {
                    let info = frame
                        .as_ref()
                        .map(|f| CloseInfo::new(f.code.into(), f.reason.as_str()));
                    self.closed = Some(info.clone());
                    return Err(ClientError::Closed(info));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let incoming = match decode::<P>(text) {
                Ok(incoming) => incoming,
                // Not one of the protocol's frames: looked for only when
                // the protocol's decoding failed.
                Err(error) => match serde_json::from_str::<RefreshRequired>(text) {
                    Ok(_) => {
                        self.refresh().await?;
                        continue;
                    }
                    Err(_) => return Err(error),
                },
            };
            let Incoming::Message(message, id, position) = incoming else {
                return Ok(incoming);
            };
            if self.tracks {
                match self.track(text, &message) {
                    Tracked::Keep => {}
                    Tracked::Duplicate => continue,
                    Tracked::Answer(recovery) => {
                        self.ahead = Some(Incoming::Message(message, id, position));
                        return Ok(Incoming::Recovery(recovery));
                    }
                }
            }
            if !is_server_request::<P>(message.message_type()) {
                return Ok(Incoming::Message(message, id, position));
            }
            // The server chose this id: it is not one of ours, so it must
            // not reach the matching of replies by id.
            let (Some(id), Some(answerer)) = (id, self.answers.get_mut(message.message_type()))
            else {
                return Ok(Incoming::Message(message, None, position));
            };
            match answerer(message) {
                Ok(answer) => {
                    let json = serde_json::to_string(&answer).map_err(ClientError::Encode)?;
                    self.send_text(correlation::with_id(json, id)).await?;
                }
                Err(message) => return Ok(Incoming::Message(message, None, position)),
            }
        }
    }

    /// Answers the server's `refresh_required` with a token from
    /// `get_token`; without one, the session will expire (close 4001).
    pub(super) async fn refresh(&mut self) -> Result<(), ClientError> {
        let Some(get_token) = self.get_token.clone() else {
            return Ok(());
        };
        let token = get_token().await;
        let json = serde_json::to_string(&RefreshFrame { token }).map_err(ClientError::Encode)?;
        let frame = self.frame(json)?;
        self.ws
            .send(frame)
            .await
            .map_err(|error| self.interrupted(error.into()))
    }

    /// Follows the room positions a frame reveals.
    pub(super) fn track(&mut self, text: &str, message: &P) -> Tracked {
        let Ok(Place {
            room: Some(room),
            epoch: Some(epoch),
            offset: Some(offset),
            recovered,
            reason,
        }) = serde_json::from_str::<Place>(text)
        else {
            return Tracked::Keep;
        };
        let position = (!epoch.is_empty()).then(|| Position {
            epoch: epoch.clone(),
            offset,
        });
        if let Some(recovered) = recovered {
            if recovered {
                // The replay moves the position from where it was.
                self.rooms.entry(room.clone()).or_insert(None);
            } else {
                // Only what follows the room's head comes.
                self.rooms.insert(room.clone(), position);
            }
            let reason = reason.and_then(|r| serde_json::from_value::<Unrecovered>(r).ok());
            return Tracked::Answer(Recovery {
                room,
                recovered,
                reason,
                epoch,
                offset,
            });
        }
        if !message.is_recorded() {
            return Tracked::Keep;
        }
        match self.rooms.get_mut(&room) {
            Some(Some(last)) if last.epoch == epoch && offset <= last.offset => Tracked::Duplicate,
            Some(last) => {
                *last = position;
                Tracked::Keep
            }
            None => {
                self.rooms.insert(room, position);
                Tracked::Keep
            }
        }
    }
}

/// Whether `wire` names a request of the server (`#[ws(server, reply = ..)]`).
pub(super) fn is_server_request<P: Protocol>(wire: &str) -> bool {
    P::MESSAGES
        .iter()
        .any(|m| m.wire() == wire && !m.is_client() && m.reply().is_some())
}

pub(super) fn decode<P: Protocol>(text: &str) -> Result<Incoming<P>, ClientError> {
    match serde_json::from_str::<P>(text) {
        Ok(message) => {
            let wire = message.message_type();
            let id = if P::CORRELATE_ALL
                || message_is_reply::<P>(wire)
                || is_server_request::<P>(wire)
            {
                correlation::read_id(text).ok().flatten()
            } else {
                None
            };
            let position = message.is_recorded().then(|| stamp_of(text)).flatten();
            Ok(Incoming::Message(message, id, position))
        }
        Err(source) => match serde_json::from_str::<ErrorFrame>(text) {
            Ok(frame) => Ok(Incoming::Error(
                frame,
                correlation::read_id(text).ok().flatten(),
            )),
            Err(_) => match correlation::read_ack(text).filter(|_| P::CORRELATE_ALL) {
                Some(id) => Ok(Incoming::Ack(id)),
                None => Err(ClientError::Decode {
                    text: text.to_owned(),
                    source,
                }),
            },
        },
    }
}

/// The `epoch` and `offset` the history stamped on a recorded message;
/// `None` without them (a server that keeps no history).
fn stamp_of(text: &str) -> Option<Position> {
    #[derive(Deserialize)]
    struct Stamp {
        epoch: Option<String>,
        offset: Option<u64>,
    }
    match serde_json::from_str::<Stamp>(text) {
        Ok(Stamp {
            epoch: Some(epoch),
            offset: Some(offset),
        }) if !epoch.is_empty() => Some(Position { epoch, offset }),
        _ => None,
    }
}

pub(super) fn message_is_reply<P: Protocol>(wire: &str) -> bool {
    P::MESSAGES.iter().any(|m| m.reply() == Some(wire))
}

pub(super) fn decode_error(text: String, why: &str) -> ClientError {
    let source = <serde_json::Error as serde::de::Error>::custom(why);
    ClientError::Decode { text, source }
}
