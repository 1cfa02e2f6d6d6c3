//! Browser-side tests: the generated TypeScript client run in Node against
//! a real server (the Chromium check of the chat example is
//! `frontend/check.sh`).

#[path = "../support/mod.rs"]
mod support;

mod typescript_client;
