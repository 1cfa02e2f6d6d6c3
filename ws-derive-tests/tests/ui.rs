//! trybuild cases of `#[ws_protocol]`: `ui/pass/<topic>/*.rs` compile and
//! run, `ui/fail/<topic>/*.rs` fail with the `.stderr` beside them.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/**/*.rs");
    t.compile_fail("tests/ui/fail/**/*.rs");
}
