use ws_core::ws_protocol;

// Keeping an old name as an alias, after a new variant took that name.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    #[serde(alias = "leave")]
    LeaveRoom { room: String },
    #[ws(client)]
    Leave,
    #[ws(client)]
    #[serde(alias = "say", alias = "talk")]
    Speak { text: String },
    #[ws(client)]
    #[serde(alias = "talk")]
    Whisper { text: String },
}

fn main() {}
