//! `#[ws(server, history)]`: a recorded message goes to clients with `epoch`
//! and `offset` beside its tag.

use super::{field_tokens, wire_name};
use crate::ast::{Message, Protocol, Shape, Tagging};
use crate::ctxt::Ctxt;

/// A recorded message goes to clients with `epoch` and `offset` beside its
/// tag: it is a server message of a tagged enum, and leaves those names to
/// the framework.
pub(super) fn check_history(cx: &Ctxt, protocol: &Protocol) {
    let enum_name = protocol.ident;
    for message in &protocol.messages {
        let Some(history) = &message.history else {
            continue;
        };
        if !message.direction.server || message.lenient {
            cx.error_spanned_by(
                history,
                format!(
                    "`history` keeps what the server sends to a room; mark `{}` `#[ws(server, history)]`",
                    message.ident
                ),
            );
        }
        match &protocol.tagging {
            Tagging::External | Tagging::Untagged => cx.error_spanned_by(
                history,
                format!(
                    "`history` needs a tagged enum, so that `epoch` and `offset` can go beside the tag; add `#[serde(tag = \"type\")]` to `{enum_name}`"
                ),
            ),
            Tagging::Internal { tag } | Tagging::Adjacent { tag, .. }
                if tag == "epoch" || tag == "offset" =>
            {
                cx.error_spanned_by(
                    history,
                    format!("`{tag}` is the stream position that `history` adds and cannot be the tag; choose another `tag`"),
                )
            }
            _ => {}
        }
        if protocol.options.has("history") && protocol.options.to_config().history() == 0 {
            cx.error_spanned_by(
                history,
                format!(
                    "`{}` would never be kept: this protocol sets `history = 0`, which keeps no history; remove this `history`, or set `history` above 0",
                    message.ident
                ),
            );
        }
        if message.direction.server && !message.lenient && !names_its_room(message) {
            cx.error_spanned_by(
                history,
                format!(
                    "`history` keeps a message in the history of the room its `room` field names, and clients resume from the position they saw per room; add a field `room: String` to `{}`",
                    message.ident
                ),
            );
        }
        if !matches!(protocol.tagging, Tagging::Internal { .. }) {
            continue;
        }
        for field in &message.fields {
            if let Some(name @ ("epoch" | "offset")) = wire_name(field).as_deref() {
                cx.error_spanned_by(
                    field_tokens(field),
                    format!(
                        "field `{name}` of `{}` collides with the stream position that `history` adds beside the tag; rename the field (or keep its Rust name with `#[serde(rename = \"...\")]`)",
                        message.ident
                    ),
                );
            }
        }
    }
    if let (Some(deny), Some(_)) = (
        &protocol.deny_unknown_fields,
        protocol.messages.iter().find(|m| m.history.is_some()),
    ) {
        cx.error_spanned_by(
            deny,
            "`deny_unknown_fields` would refuse the `epoch` and `offset` that `history` adds; remove it, or the `history`",
        );
    }
}

/// Whether a message has a field that goes on the wire as `room`: the key
/// by which clients track their position in a room's history.
fn names_its_room(message: &Message) -> bool {
    matches!(message.shape, Shape::Named)
        && message
            .fields
            .iter()
            .any(|field| wire_name(field).as_deref() == Some("room"))
}
