//! `authorize_join` is async (issue 24): it asks a real PostgreSQL
//! (127.0.0.1:5432, database `test`) whether the session's user may join a
//! room, other connections are served while it waits, and the default hook
//! costs a join no allocation.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, Semaphore};
use tokio_postgres::NoTls;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::testing::TestServer;
use ws_core::{Ctx, HandlerResult, JoinRefused, Manager, Route, UserId, error_code, ws_protocol};

/// A board per room; who may enter which is a table of grants.
#[ws_protocol(session = Option<UserId>, heartbeat = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Board {
    #[ws(client)]
    Join { room: String },
    #[ws(server)]
    Joined { room: String },
    #[ws(client, server)]
    Echo { text: String },
}

/// The grants `(member, room)` in a table of PostgreSQL, which the hook
/// queries on every join.
struct Grants {
    db: tokio_postgres::Client,
    table: String,
    /// A join of a `held-` room waits in the hook: `entered` is notified,
    /// then one permit of `release` lets it go on.
    entered: Notify,
    release: Semaphore,
}

impl Grants {
    /// Connects, and creates a table of grants named for this run (a
    /// temporary one: gone with the connection even if the test fails
    /// before [`Grants::drop_table`]).
    async fn connect(grants: &[(&str, &str)]) -> Arc<Self> {
        let (db, connection) =
            tokio_postgres::connect("host=127.0.0.1 port=5432 user=postgres dbname=test", NoTls)
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, database test)");
        tokio::spawn(connection);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let table = format!("ws_grants_{}_{nanos}", std::process::id());
        db.batch_execute(&format!(
            "CREATE TEMPORARY TABLE {table} (member text NOT NULL, room text NOT NULL)"
        ))
        .await
        .unwrap();
        let grants_table = Self {
            db,
            table,
            entered: Notify::new(),
            release: Semaphore::new(0),
        };
        for (member, room) in grants {
            grants_table.grant(member, room).await;
        }
        Arc::new(grants_table)
    }

    async fn grant(&self, member: &str, room: &str) {
        let insert = format!("INSERT INTO {} (member, room) VALUES ($1, $2)", self.table);
        self.db.execute(&insert, &[&member, &room]).await.unwrap();
    }

    async fn drop_table(&self) {
        let drop = format!("DROP TABLE {}", self.table);
        self.db.batch_execute(&drop).await.unwrap();
    }
}

impl BoardHandler for Grants {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        let query = request.uri.query().unwrap_or("");
        Ok(query.strip_prefix("user=").map(UserId::from))
    }

    async fn authorize_join(&self, ctx: &Ctx<Board>, room: &str) -> Result<(), JoinRefused> {
        let Some(member) = ctx.session().as_deref().map(str::to_owned) else {
            return Err(JoinRefused::new("sign in first"));
        };
        if room.starts_with("held-") {
            self.entered.notify_one();
            self.release.acquire().await.unwrap().forget();
        }
        let select = format!(
            "SELECT 1 FROM {} WHERE member = $1 AND room = $2",
            self.table
        );
        match self.db.query_opt(&select, &[&member, &room]).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(JoinRefused::new(format!("no grant for `{room}`"))),
            Err(_) => Err(JoinRefused::new("the grants are out of reach")),
        }
    }

    async fn join(&self, ctx: &Ctx<Board>, msg: board::Join) -> HandlerResult {
        ctx.join(&msg.room).await?;
        ctx.send(board::Joined { room: msg.room })?;
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Board>, msg: board::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }
}

fn join(room: &str) -> board::Join {
    board::Join { room: room.into() }
}

#[tokio::test]
async fn a_grant_in_the_database_admits_and_its_absence_refuses() {
    let grants = Grants::connect(&[("ann", "board-1")]).await;
    let server = TestServer::start(Manager::<Board>::new(), Arc::clone(&grants)).await;
    let mut ann = server.connect().query("?user=ann").client().await;
    let mut bob = server.connect().query("?user=bob").client().await;

    ann.push(join("board-1")).await;
    assert_eq!(ann.expect::<board::Joined>().await.room, "board-1");

    ann.push(join("board-2")).await;
    let refused = ann.expect_error().await;
    assert_eq!(refused.code, error_code::JOIN_REFUSED);
    assert_eq!(refused.message, "no grant for `board-2`");
    bob.push(join("board-1")).await;
    assert_eq!(bob.expect_error().await.code, error_code::JOIN_REFUSED);
    assert_eq!(server.manager().room_size("board-1"), 1);
    assert_eq!(server.manager().room_size("board-2"), 0);

    // Asked on every join: a grant made now admits the next one.
    grants.grant("bob", "board-1").await;
    bob.push(join("board-1")).await;
    assert_eq!(bob.expect::<board::Joined>().await.room, "board-1");
    assert_eq!(server.manager().room_size("board-1"), 2);
    grants.drop_table().await;
}

#[tokio::test]
async fn a_hook_that_waits_holds_up_no_other_connection() {
    let grants = Grants::connect(&[("ann", "held-1"), ("bob", "board-1")]).await;
    let server = TestServer::start(Manager::<Board>::new(), Arc::clone(&grants)).await;
    let mut ann = server.connect().query("?user=ann").client().await;
    let mut bob = server.connect().query("?user=bob").client().await;

    ann.push(join("held-1")).await;
    tokio::time::timeout(Duration::from_secs(10), grants.entered.notified())
        .await
        .expect("ann's join reaches the hook");
    // Ann's hook is waiting: bob is answered, and his own join (which
    // awaits the database in the same hook) goes through.
    bob.push(board::Echo {
        text: "still here".into(),
    })
    .await;
    assert_eq!(bob.expect::<board::Echo>().await.text, "still here");
    bob.push(join("board-1")).await;
    assert_eq!(bob.expect::<board::Joined>().await.room, "board-1");
    assert_eq!(
        server.manager().room_size("held-1"),
        0,
        "a join waits for its hook"
    );

    grants.release.add_permits(1);
    assert_eq!(ann.expect::<board::Joined>().await.room, "held-1");
    assert_eq!(server.manager().room_size("held-1"), 1);
    grants.drop_table().await;
}

/// A protocol that keeps the default `authorize_join`.
#[ws_protocol(heartbeat = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Open {
    #[ws(client, reply = Probed)]
    Probe { room: String },
    #[ws(server)]
    Probed {
        hook: usize,
        route: usize,
        joined: bool,
    },
}

struct Anyone;

impl OpenHandler for Anyone {
    async fn probe(&self, ctx: &Ctx<Open>, msg: open::Probe) -> HandlerResult<open::Probed> {
        // The future the default hook returns, and the one the connection
        // boxes (the protocol's `Route`): a box of a zero-sized value does
        // not allocate.
        let hook = size_of_val(&<Self as OpenHandler>::authorize_join(self, ctx, &msg.room));
        let route = size_of_val(&<Open as Route<Self>>::authorize_join(self, ctx, &msg.room));
        let joined = ctx.join(&msg.room).await?;
        Ok(open::Probed {
            hook,
            route,
            joined,
        })
    }
}

#[tokio::test]
async fn the_default_hook_is_zero_sized_and_admits_every_join() {
    let server = TestServer::start(Manager::<Open>::new(), Arc::new(Anyone)).await;
    let mut client = server.client().await;
    let probed = client
        .ask(open::Probe {
            room: "anywhere".into(),
        })
        .await;
    assert_eq!(
        probed,
        open::Probed {
            hook: 0,
            route: 0,
            joined: true,
        }
    );
    assert_eq!(server.manager().room_size("anywhere"), 1);
}
