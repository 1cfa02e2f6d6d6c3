use ws_core::ws_protocol;

#[ws_protocol(
    max_connections = -1,
    max_per_user = -1,
    send_queue = -1,
    max_message_size = "-1KiB",
    heartbeat = "-30s",
    idle_timeout = -60,
    rate_limit = "-20/s",
    rate_burst = -1,
    read_buffer = -1,
    write_buffer = "-64KiB",
)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
