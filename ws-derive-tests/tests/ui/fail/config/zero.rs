use ws_core::ws_protocol;

// Every option whose zero means nothing, at zero: each refused by
// `Config::validate`, as from the builder or the environment.
#[ws_protocol(
    send_queue = 0,
    max_message_size = "0KiB",
    heartbeat = "0s",
    idle_timeout = "0m",
    rate_limit = "0/s",
    read_buffer = 0,
    write_buffer = "0B",
    // Zero is "unlimited" for these two.
    max_connections = 0,
    max_per_user = 0,
)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

#[ws_protocol(rate_limit = "5/0s", rate_burst = 0)]
pub enum Burst {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
