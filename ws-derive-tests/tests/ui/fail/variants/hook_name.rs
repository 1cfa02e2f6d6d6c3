use ws_core::ws_protocol;

#[ws_protocol]
pub enum Session {
    #[ws(client)]
    Authenticate { token: String },
    #[ws(server)]
    OnConnect,
}

fn main() {}
