//! Tests of `#[ws_protocol]`: trybuild pass and compile-fail cases under
//! `tests/ui/`, run by `tests/ui.rs`. The library itself is empty.
