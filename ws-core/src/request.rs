//! Requests of the server to a client, answered with a typed reply, like
//! socket.io's `emitWithAck`.
//!
//! A server variant declares the client variant that answers it
//! (`#[ws(server, reply = Answer)]`). The server writes an `"id"` it
//! chooses (a counter of the connection) beside the tag; the client answers
//! with the declared variant and the same `"id"`:
//!
//! ```text
//! ← {"id":1,"type":"confirm","question":"quit?"}
//! → {"id":1,"type":"confirmed","yes":true}
//! ```
//!
//! The variant says what the message is, so these ids never collide with
//! the ids of the client's own requests: a client message of an answer's
//! variant goes to the request of that connection that waits for it, and
//! never to the handler (its variant gets no handler method). An answer
//! that no request waits for (an unknown id, one already answered or timed
//! out, or an answer of another type) is refused with an
//! [`ErrorFrame`](crate::ErrorFrame) whose code is
//! [`error_code::UNEXPECTED_REPLY`](crate::error_code::UNEXPECTED_REPLY),
//! carrying the id, rather than dropped silently, so a client that answers
//! too late learns it.
//!
//! The waiting requests live in a small table of the connection, allocated
//! by its first request and freed with the connection; a request waiting
//! when the connection ends fails with
//! [`RequestError::Closed`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::RequestError;
use crate::protocol::{Protocol, ServerRequest, Variant};
use crate::registry::Conn;
use crate::send::{self, Kind};
use crate::telemetry::Counters;

/// Sends `message` to `conn` now, and returns the wait for its answer.
pub(crate) fn request<P, M>(
    conn: Arc<Conn>,
    counters: &Counters,
    message: M,
    timeout: Duration,
) -> impl Future<Output = Result<M::Reply, RequestError>> + Send + 'static
where
    P: Protocol,
    M: ServerRequest<P> + 'static,
    M::Reply: Send + 'static,
{
    let sent = send::<P, M>(&conn, counters, message);
    async move {
        let (guard, answer) = sent?;
        let outcome = tokio::time::timeout(timeout, answer).await;
        drop(guard);
        match outcome {
            Err(_) => Err(RequestError::Timeout(timeout)),
            Ok(Err(_)) => Err(RequestError::Closed),
            Ok(Ok(answer)) => answer
                .downcast::<P>()
                .ok()
                .and_then(|message| M::Reply::from_message(*message).ok())
                // The read loop hands over only a `P` of the awaited wire name.
                .ok_or(RequestError::Closed),
        }
    }
}

/// Registers the request and queues it.
fn send<P: Protocol, M: ServerRequest<P>>(
    conn: &Arc<Conn>,
    counters: &Counters,
    message: M,
) -> Result<(Forget, crate::registry::Answer), RequestError> {
    let message = message.into_message();
    // Registered before it is queued, so that no answer can come first.
    let (id, answer) = conn
        .wait_for(<M::Reply as Variant<P>>::WIRE)
        .ok_or(RequestError::Closed)?;
    let guard = Forget {
        conn: Arc::clone(conn),
        id,
    };
    let frame = send::encode(&message, Some(id.into())).map_err(RequestError::Encode)?;
    let delivery = send::to_one(conn, &frame, counters, Kind::Answer);
    if delivery.queued > 0 {
        Ok((guard, answer))
    } else if delivery.closed > 0 {
        Err(RequestError::Closed)
    } else {
        // Dropped (`drop_newest`) or evicted (`close`).
        Err(RequestError::QueueFull)
    }
}

/// Removes a request from the table however its wait ends (answered, timed
/// out, or the future dropped), so that a late answer is unexpected.
struct Forget {
    conn: Arc<Conn>,
    id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.conn.forget(self.id);
    }
}
