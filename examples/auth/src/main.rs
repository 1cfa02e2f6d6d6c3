//! Authentication with a signed token: a JWT (HMAC-SHA256, `jsonwebtoken`)
//! checked by an axum extractor in `authenticate`, whose claims become the
//! connection's session; `authorize_join` lets a connection into the rooms
//! its token names, and no others.
//!
//! ```text
//! AUTH_SECRET=change-me cargo run -p auth-example -- --demo-tokens   # 127.0.0.1:3001
//! curl '127.0.0.1:3001/token?user=ann'                # a token (demo only)
//! websocat 'ws://127.0.0.1:3001/ws?token=<the token>'
//! {"type":"join","room":"lobby"}                      # {"type":"joined","room":"lobby"}
//! {"type":"join","room":"bob"}                        # {"type":"error","code":"join_refused",..}
//! ```
//!
//! `GET /token?user=NAME` hands a token to anyone who asks, for trying the
//! example out: it is served only with `--demo-tokens`, and the server
//! warns at start when it is. A real deployment gets its tokens from its
//! login or identity provider and runs without the flag.
//!
//! A refused token gets 401 with a fixed body (`no token`, `invalid token`,
//! `token expired`): why a signature or a claim failed is the server's
//! business, not the client's.
//!
//! Where the token travels, in the order [`Verified`] looks:
//! - `Authorization: Bearer <token>`, for clients that can set headers.
//!   Browsers cannot on a WebSocket (the `WebSocket` constructor takes no
//!   headers).
//! - a `token` cookie, which a browser sends with the upgrade request of its
//!   own origin. A cookie rides along on requests other pages make too, so
//!   this relies on the `allowed_origins` check (on by default) to refuse
//!   cross-site pages.
//! - `?token=<token>` in the URL: works everywhere, but URLs end up in
//!   access logs and proxies' logs, so keep such tokens short-lived.
//!
//! A token that has expired is refused at connect (401). On an open
//! connection the session's `exp` is its expiry (`Session::expires_at`):
//! 30 s ahead (`refresh_before`) the server sends
//! `{"type":"refresh_required","expires_in_ms":N}`, the client answers
//! `{"type":"refresh","token":"<a new token>"}` (a message: it stays out of
//! access logs), and [`App::refresh`](RoomsHandler::refresh) verifies it;
//! with no valid refresh by `exp` the connection is closed with 4001. A
//! refresh may narrow the session: the connection leaves the rooms the new
//! token no longer names, and receives nothing more from them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum_extra::extract::CookieJar;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use ws_core::axum::extract::{FromRef, FromRequestParts, Query, State};
use ws_core::axum::http::{StatusCode, header, request::Parts};
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::axum::{Router, routing::get};
use ws_core::{
    Ctx, HandlerResult, JoinRefused, Manager, RefreshRefused, Session, UserId, endpoint,
    ws_protocol,
};

/// What a token asserts, signed by the server. It is the connection's
/// session as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The rooms the user may join.
    pub rooms: Vec<String>,
    /// When the token expires, in seconds since the Unix epoch.
    pub exp: u64,
}

/// The token's subject is the connection's user: `to_user` and
/// `max_per_user` know it by that.
impl Session for Claims {
    fn user(&self) -> Option<UserId> {
        Some(UserId::from(self.sub.as_str()))
    }

    /// The token's `exp`: the connection must refresh before it. Checked:
    /// a validly signed `exp` may lie past what `SystemTime` holds (2^63 s
    /// and more), and an accessor must not panic; such a token never
    /// expires.
    fn expires_at(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_secs(self.exp))
    }
}

/// Rooms for users with a token.
#[ws_protocol(session = Claims, max_per_user = 8)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rooms {
    /// Join a room the token names: answered with `joined`, or an error
    /// with code `join_refused`.
    #[ws(client)]
    Join { room: String },
    #[ws(server)]
    Joined { room: String },
    /// Say something in a room one is in.
    #[ws(client)]
    Say { room: String, text: String },
    #[ws(server)]
    Said {
        room: String,
        from: String,
        text: String,
    },
    /// Who the server takes this connection for.
    #[ws(client, reply = Me)]
    Whoami,
    #[ws(server)]
    Me { user: String, expires: u64 },
}

/// The HMAC secret, as the two keys `jsonwebtoken` wants.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    /// # Errors
    /// If `jsonwebtoken` refuses the secret (an empty one).
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
        })
    }

    /// A token for `user`, valid for `ttl`, naming `rooms`.
    pub fn sign(&self, user: &str, rooms: &[&str], ttl: Duration) -> String {
        let claims = Claims {
            sub: user.to_owned(),
            rooms: rooms.iter().map(|&room| room.to_owned()).collect(),
            exp: SystemTime::now()
                .checked_add(ttl)
                .and_then(|exp| exp.duration_since(UNIX_EPOCH).ok())
                .map_or(u64::MAX, |since| since.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signs any claims that serialize")
    }

    /// The claims of `token`, if its signature is this secret's and it has
    /// not expired (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims)
    }
}

/// The router's state.
#[derive(Clone)]
pub struct AppState {
    pub keys: Arc<Keys>,
    pub manager: Manager<Rooms>,
}

impl FromRef<AppState> for Arc<Keys> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.keys)
    }
}

/// An axum extractor: the claims of a valid token from the header, a
/// cookie or the query (see the [crate] docs), or a 401. Usable in any
/// handler of a router whose state holds the [`Keys`].
pub struct Verified(pub Claims);

impl<S: Send + Sync> FromRequestParts<S> for Verified
where
    Arc<Keys>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Some(token) = token(parts, state).await else {
            return Err(unauthorized(
                "no token: send `Authorization: Bearer <token>`, a `token` cookie or `?token=<token>`",
            ));
        };
        let keys = Arc::<Keys>::from_ref(state);
        keys.verify(&token)
            .map(Verified)
            .map_err(|error| unauthorized(refusal(&error)))
    }
}

/// Why a token is refused, as the client is told: a fixed message, never
/// the library's own text (which names algorithms and claim types).
fn refusal(error: &jsonwebtoken::errors::Error) -> &'static str {
    match error.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired",
        _ => "invalid token",
    }
}

/// The token, from the first place that has one.
async fn token<S: Send + Sync>(parts: &mut Parts, state: &S) -> Option<String> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok()?.strip_prefix("Bearer "));
    if let Some(bearer) = bearer {
        return Some(bearer.to_owned());
    }
    let Ok(jar) = CookieJar::from_request_parts(parts, state).await;
    if let Some(cookie) = jar.get("token") {
        return Some(cookie.value().to_owned());
    }
    #[derive(Deserialize)]
    struct TokenQuery {
        // `access_token` is where the generated TypeScript client puts it.
        #[serde(alias = "access_token")]
        token: Option<String>,
    }
    let Query(query) = Query::<TokenQuery>::from_request_parts(parts, state)
        .await
        .ok()?;
    query.token
}

fn unauthorized(why: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        why,
    )
        .into_response()
}

/// The handler: it holds the keys too, for `refresh`, which runs long
/// after the upgrade request and its router state.
pub struct App {
    pub keys: Arc<Keys>,
}

impl RoomsHandler<AppState> for App {
    async fn authenticate(
        &self,
        request: &mut Parts,
        state: &AppState,
    ) -> Result<Claims, Response> {
        let Verified(claims) = Verified::from_request_parts(request, state).await?;
        Ok(claims)
    }

    /// A new token for the same user replaces the session (its rooms and
    /// `exp` with it): the connection leaves the rooms it no longer names.
    /// A forged or expired one, or another user's, closes the connection
    /// with 4003.
    async fn refresh(&self, ctx: &Ctx<Rooms>, token: String) -> Result<Claims, RefreshRefused> {
        let claims = self
            .keys
            .verify(&token)
            .map_err(|error| RefreshRefused::new(refusal(&error)))?;
        if claims.sub != ctx.session().sub {
            return Err(RefreshRefused::new("a refresh keeps the user"));
        }
        for room in ctx.rooms() {
            if !claims.rooms.iter().any(|named| **named == *room) {
                ctx.leave(&room);
            }
        }
        Ok(claims)
    }

    /// Asked by every `ctx.join(..).await`: here the token's own list of
    /// rooms decides; an app that keeps its grants in a database awaits a
    /// query here instead (other connections are served meanwhile).
    async fn authorize_join(&self, ctx: &Ctx<Rooms>, room: &str) -> Result<(), JoinRefused> {
        match ctx.session().rooms.iter().any(|named| named == room) {
            true => Ok(()),
            false => Err(JoinRefused::new(format!(
                "your token does not name room `{room}`"
            ))),
        }
    }

    async fn join(&self, ctx: &Ctx<Rooms>, msg: rooms::Join) -> HandlerResult {
        ctx.join(&msg.room).await?;
        ctx.send(rooms::Joined { room: msg.room })?;
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Rooms>, msg: rooms::Say) -> HandlerResult {
        if !ctx.rooms().iter().any(|room| **room == msg.room) {
            return Err(ws_core::HandlerError::reply(
                "not_in_room",
                "join the room first",
            ));
        }
        let from = ctx.session().sub.clone();
        ctx.to_room(&msg.room).send(rooms::Said {
            room: msg.room.clone(),
            from,
            text: msg.text,
        })?;
        Ok(())
    }

    async fn whoami(&self, ctx: &Ctx<Rooms>, _: rooms::Whoami) -> HandlerResult<rooms::Me> {
        let session = ctx.session();
        Ok(rooms::Me {
            user: session.sub.clone(),
            expires: session.exp,
        })
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// `GET /token?user=NAME`: a token for NAME, valid for an hour, naming
/// the rooms `lobby` and NAME, for anyone who asks. A demo, served only
/// with `--demo-tokens`: a real server checks a password or an identity
/// provider first.
async fn issue(State(state): State<AppState>, Query(login): Query<Login>) -> String {
    let rooms = ["lobby", login.user.as_str()];
    state
        .keys
        .sign(&login.user, &rooms, Duration::from_secs(3600))
}

/// The app's routes beside the endpoint, on a router with [`AppState`]:
/// with `demo_tokens`, the token route that signs for anyone.
pub fn routes(demo_tokens: bool) -> Router<AppState> {
    let routes = Router::new();
    if demo_tokens {
        return routes.route("/token", get(issue));
    }
    routes
}

#[tokio::main]
async fn main() {
    let mut demo_tokens = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--demo-tokens" => demo_tokens = true,
            other => {
                eprintln!("unknown argument `{other}`; expected `--demo-tokens` or nothing");
                std::process::exit(2);
            }
        }
    }
    if demo_tokens {
        eprintln!(
            "WARNING: --demo-tokens: GET /token?user=NAME signs a token for anyone who asks; \
             for trying the example out only, never in production"
        );
    }
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| {
        eprintln!("AUTH_SECRET is not set; using a development secret");
        "development secret, not for production".to_owned()
    });
    let keys = match Keys::new(secret.as_bytes()) {
        Ok(keys) => keys,
        Err(error) => {
            eprintln!("AUTH_SECRET: {error}");
            std::process::exit(2);
        }
    };
    let manager = Manager::<Rooms>::new();
    let keys = Arc::new(keys);
    let state = AppState {
        keys: Arc::clone(&keys),
        manager: manager.clone(),
    };
    let app = routes(demo_tokens)
        .route("/ws", endpoint(manager, Arc::new(App { keys })))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001")
        .await
        .expect("bind 127.0.0.1:3001");
    eprintln!("listening on ws://127.0.0.1:3001/ws");
    if let Err(error) = ws_core::serve(listener, app).await {
        eprintln!("server failed: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests;
