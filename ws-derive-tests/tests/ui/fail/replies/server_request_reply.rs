use ws_core::ws_protocol;

#[ws_protocol]
#[serde(tag = "type")]
pub enum Game {
    /// The answer to a request of the server is a client message.
    #[ws(server, reply = Notice)]
    Confirm,
    /// No such variant.
    #[ws(server, reply = Confirmd)]
    Ask,
    /// Not a variant name.
    #[ws(server, reply = "")]
    Poll,
    #[ws(client)]
    Confirmed { yes: bool },
    #[ws(server)]
    Notice { text: String },
}

fn main() {}
