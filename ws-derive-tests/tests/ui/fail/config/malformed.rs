use ws_core::ws_protocol;

// humantime's forms and typed literals are not the grammar.
#[ws_protocol(
    max_connections = 10_000usize,
    max_per_user = "four",
    send_queue = 1.5,
    max_message_size = "64k",
    heartbeat = "4.2s",
    idle_timeout = "30sec",
    rate_limit = "20 per second",
    rate_burst = "lots",
    read_buffer = "1TiB",
    write_buffer = true,
)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
