use ws_core::ws_protocol;

#[ws_protocol]
#[serde(tag = "type")]
pub enum Chat {
    /// No such variant.
    #[ws(client, reply = Joined)]
    Join { room: String },
    /// A client-only variant cannot be a reply (the server never sends it).
    #[ws(client, reply = Join)]
    Rejoin { room: String },
    /// A request of the server is answered by a client message.
    #[ws(server, reply = Said)]
    Kicked,
    /// Not a variant name.
    #[ws(client, reply = 42)]
    Count,
    #[ws(server)]
    Said { text: String },
}

fn main() {}
