use ws_core::history::Position;
use ws_core::{Protocol, ws_protocol};

#[ws_protocol(history = 1000, history_ttl = "5m", history_bytes = "2MiB", history_memory = "128MiB", history_streams = 500)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    Join { room: String, since: Option<Position> },
    /// `epoch` and `offset` are free names where nothing is recorded.
    #[ws(server)]
    Joined { room: String, epoch: String, offset: u64, recovered: bool },
    #[ws(server, history)]
    Said { room: String, text: String },
}

fn main() {
    let config = Chat::CONFIG;
    assert_eq!(config.history(), 1000);
    assert_eq!(config.history_ttl(), Some(std::time::Duration::from_secs(300)));
    assert_eq!(config.history_bytes(), 2 << 20);
    assert_eq!(config.history_memory(), 128 << 20);
    assert_eq!(config.history_streams(), 500);
    let said = Chat::Said { room: "r".into(), text: "t".into() };
    assert!(said.is_recorded());
    assert!(!Chat::Joined { room: "r".into(), epoch: "e".into(), offset: 0, recovered: false }.is_recorded());
    let recorded: Vec<&str> = Chat::MESSAGES.iter().filter(|m| m.is_recorded()).map(|m| m.wire()).collect();
    assert_eq!(recorded, ["said"]);
    let schema = Chat::json_schema().to_string();
    assert!(schema.contains("\"offset\""));
    assert!(Chat::typescript().contains("offset?: number"));
}
