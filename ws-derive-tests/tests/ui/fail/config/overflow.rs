use ws_core::ws_protocol;

#[ws_protocol(
    max_connections = 99999999999999999999,
    max_per_user = "99999999999999999999",
    send_queue = 18446744073709551616,
    max_message_size = "18446744073709551616KiB",
    heartbeat = "99999999999999999h",
    idle_timeout = "18446744073709551616ms",
    rate_limit = "4294967296/s",
    read_buffer = "17179869184GiB",
    write_buffer = 99999999999999999999,
)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

#[ws_protocol(rate_limit = "20/s", rate_burst = 4294967296)]
pub enum Burst {
    #[ws(client)]
    Join { room: String },
}

fn main() {}
