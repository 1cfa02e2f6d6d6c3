//! Fuzzes the frame parser (`ws_core::wire::parse`, through
//! `ws_core::bench::parse_frames`) with a client's bytes: it must never
//! panic, must make the same messages and the same failure however the
//! bytes are cut into reads, and must fail only with the close codes the
//! parser documents (1002, 1007, 1008, 1009).
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_frames corpus/parse_frames seeds/parse_frames \
//!     -- -max_total_time=60
//! ```
//! The first byte chooses the connection's terms (bit 0: permessage-deflate
//! negotiated; bits 1-2: `max_fragments` 0 to 3) and the length of the
//! reads (its high nibble, 1 to 16 bytes); the rest is the client's bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_core::bench::parse_frames;

fuzz_target!(|data: &[u8]| {
    let Some((&terms, bytes)) = data.split_first() else {
        return;
    };
    let deflate = terms & 1 != 0;
    let max_fragments = usize::from((terms >> 1) & 3);
    let read = usize::from(terms >> 4) + 1;
    let whole = parse_frames(bytes, &[], deflate, max_fragments);
    let reads = vec![read; bytes.len() / read];
    let chopped = parse_frames(bytes, &reads, deflate, max_fragments);
    assert_eq!(whole, chopped, "cut into reads of {read} bytes");
    if let Some(close) = &whole.1 {
        assert!(
            matches!(close.code, 1002 | 1007 | 1008 | 1009),
            "{close:?}"
        );
    }
});
