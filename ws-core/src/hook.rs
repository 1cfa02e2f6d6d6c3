//! The futures that the generated handler trait's hooks return.
//!
//! Each hook of `{Enum}Handler` returns `impl OnConnect<P> + Send` (and so
//! on) rather than `impl Future<Output = ..> + Send`: the same futures, as
//! every future of the right output implements these traits, but an impl
//! whose hook returns something else is told which signature the hook has,
//! at its return type, instead of rustc's raw type mismatch on an
//! `impl Future`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;

use crate::error::{JoinRefused, RefreshRefused};
use crate::handler::HandlerResult;

/// Declares each hook's trait, implemented by every future of the hook's
/// output: only the diagnostic, at an impl's return type, tells them apart
/// from `Future`.
macro_rules! hook_futures {
    ($(
        $(#[$attr:meta])*
        pub trait $hook:ident<$param:ident>: Future<Output = $output:ty>;
    )+) => {$(
        $(#[$attr])*
        pub trait $hook<$param>: Future<Output = $output> {}

        #[diagnostic::do_not_recommend]
        impl<$param, F: Future<Output = $output>> $hook<$param> for F {}
    )+};
}

hook_futures! {
    /// The future `authenticate` returns for a protocol whose session is
    /// `Session`: any future of `Result<Session, Response>`.
    #[diagnostic::on_unimplemented(
        message = "the hook `authenticate` has the wrong signature",
        label = "`authenticate` returns `Result<{Session}, Response>`",
        note = "expected `async fn authenticate(&self, request: &mut Parts, state: &S) -> Result<{Session}, Response>`, where `{Session}` is the protocol's `session = ..` (default `()`) and `S` the router's state (default `()`)\n(`Parts` and `Response` from `ws_core::axum::http::request` and `ws_core::axum::response`)"
    )]
    pub trait Authenticate<Session>: Future<Output = Result<Session, Response>>;

    /// The future `authorize_join` of protocol `P` returns: any future of
    /// `Result<(), JoinRefused>`.
    #[diagnostic::on_unimplemented(
        message = "the hook `authorize_join` has the wrong signature",
        label = "`authorize_join` is async: a future of `Result<(), JoinRefused>`",
        note = "expected `async fn authorize_join(&self, ctx: &Ctx<{P}>, room: &str) -> Result<(), JoinRefused>` (`Err` refuses the join: `ctx.join(..).await?` answers the client with code `join_refused`)"
    )]
    pub trait AuthorizeJoin<P>: Future<Output = Result<(), JoinRefused>>;

    /// The future `refresh` returns for a protocol whose session is
    /// `Session`: any future of `Result<Session, RefreshRefused>`.
    #[diagnostic::on_unimplemented(
        message = "the hook `refresh` has the wrong signature",
        label = "`refresh` returns `Result<{Session}, RefreshRefused>`",
        note = "expected `async fn refresh(&self, ctx: &Ctx<P>, token: String) -> Result<{Session}, RefreshRefused>`, where `{Session}` is the protocol's `session = ..` (default `()`)"
    )]
    pub trait Refresh<Session>: Future<Output = Result<Session, RefreshRefused>>;

    /// The future `on_connect` of protocol `P` returns: any future of
    /// [`HandlerResult`].
    #[diagnostic::on_unimplemented(
        message = "the hook `on_connect` has the wrong signature",
        label = "`on_connect` returns `HandlerResult`",
        note = "expected `async fn on_connect(&self, ctx: &Ctx<{P}>) -> HandlerResult` (an error closes the connection)"
    )]
    pub trait OnConnect<P>: Future<Output = HandlerResult>;

    /// The future `on_disconnect` of protocol `P` returns: any future of `()`.
    #[diagnostic::on_unimplemented(
        message = "the hook `on_disconnect` has the wrong signature",
        label = "`on_disconnect` returns nothing",
        note = "expected `async fn on_disconnect(&self, ctx: &Ctx<{P}>, disconnect: &Disconnect)` (the connection is gone: there is no one to tell of an error)"
    )]
    pub trait OnDisconnect<P>: Future<Output = ()>;
}

/// The answer of the default `authorize_join`: every connection may join
/// every room, ready at once.
///
/// A unit struct, so the join's check of a handler that keeps the default
/// costs no allocation: the connection holds the hook behind a pointer to a
/// future (`Pin<Box<dyn Future>>`), and a box of a zero-sized value does
/// not allocate. An `async fn authorize_join` is a future with its
/// arguments inside, boxed once per join.
///
/// ```
/// use std::future::Future;
/// use ws_core::hook::AllowJoin;
///
/// assert_eq!(size_of::<AllowJoin>(), 0);
/// let waker = std::task::Waker::noop();
/// let mut context = std::task::Context::from_waker(waker);
/// let mut allow = std::pin::pin!(AllowJoin);
/// assert!(matches!(allow.as_mut().poll(&mut context), std::task::Poll::Ready(Ok(()))));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "a future does nothing unless awaited"]
pub struct AllowJoin;

impl Future for AllowJoin {
    type Output = Result<(), JoinRefused>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}
