use ws_core::ws_protocol;

#[ws_protocol(rate_limit = "20 per second", on_rate_limit = "ban")]
#[serde(tag = "type")]
pub enum Malformed {
    #[ws(client)]
    Ping,
}

#[ws_protocol(rate_burst = 40)]
#[serde(tag = "type")]
pub enum BurstWithoutRate {
    #[ws(client)]
    Ping,
}

fn main() {}
