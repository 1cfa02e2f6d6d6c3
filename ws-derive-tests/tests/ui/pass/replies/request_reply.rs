//! Requests declare their reply; the handler returns the reply's struct;
//! the metadata, the client-side traits and the documents reflect it.

#![deny(warnings)]

use ws_core::{
    ClientMessage, Ctx, HandlerResult, MessageInfo, Protocol, Request, Tagging, Variant,
    ws_protocol,
};

/// Arithmetic.
#[ws_protocol(path = "/calc")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Calc {
    /// Add two numbers.
    #[ws(client, reply = Sum)]
    Add { a: i64, b: i64 },
    /// `reply = Self::X` and a unit reply.
    #[ws(client, reply = Self::Done)]
    Reset,
    #[ws(client)]
    Forget { key: String },
    /// The sum.
    #[ws(server)]
    Sum { value: i64 },
    #[ws(server)]
    Done,
    /// Both directions, and its own reply.
    #[ws(client, server, reply = Echo)]
    Echo { text: String },
}

/// Adjacently tagged: the correlation id goes beside the tag and the content.
#[ws_protocol]
#[serde(tag = "t", content = "c")]
pub enum Adjacent {
    #[ws(client, reply = "Pong")]
    Ping { id: u32 },
    #[ws(server)]
    Pong { id: u32 },
}

struct App;

impl CalcHandler for App {
    async fn add(&self, _ctx: &Ctx<Calc>, calc::Add { a, b }: calc::Add) -> HandlerResult<calc::Sum> {
        Ok(calc::Sum { value: a + b })
    }

    async fn reset(&self, _ctx: &Ctx<Calc>, _msg: calc::Reset) -> HandlerResult<calc::Done> {
        Ok(calc::Done)
    }

    async fn forget(&self, _ctx: &Ctx<Calc>, _msg: calc::Forget) -> HandlerResult {
        Ok(())
    }

    async fn echo(&self, _ctx: &Ctx<Calc>, msg: calc::Echo) -> HandlerResult<calc::Echo> {
        Ok(msg)
    }
}

impl AdjacentHandler for App {
    async fn ping(&self, _ctx: &Ctx<Adjacent>, msg: adjacent::Ping) -> HandlerResult<adjacent::Pong> {
        Ok(adjacent::Pong { id: msg.id })
    }
}

fn reply_of<R: Request<Calc>>(_: R) -> &'static str {
    <R::Reply as Variant<Calc>>::WIRE
}

fn client_sends<M: ClientMessage<Calc>>(message: M) -> Calc {
    message.into_client_message()
}

fn routes<P: ws_core::Route<H>, H>() {}

fn main() {
    routes::<Calc, App>();
    routes::<Adjacent, App>();

    assert_eq!(reply_of(calc::Add { a: 1, b: 2 }), "sum");
    assert_eq!(reply_of(calc::Reset), "done");
    assert_eq!(reply_of(calc::Echo { text: String::new() }), "echo");
    assert_eq!(client_sends(calc::Forget { key: "k".into() }).message_type(), "forget");
    assert_eq!(
        calc::Sum::from_message(Calc::Sum { value: 3 }),
        Ok(calc::Sum { value: 3 })
    );
    assert_eq!(calc::Sum::from_message(Calc::Done), Err(Calc::Done));

    assert_eq!(Calc::PATH, "/calc");
    assert_eq!(Calc::DESCRIPTION, Some("Arithmetic."));
    assert_eq!(Calc::TAGGING, Tagging::Internal { tag: "type" });
    assert_eq!(Adjacent::TAGGING, Tagging::Adjacent { tag: "t", content: "c" });
    assert_eq!(Adjacent::PATH, "/ws");
    let replies: Vec<Option<&str>> = Calc::MESSAGES.iter().map(MessageInfo::reply).collect();
    assert_eq!(replies, [Some("sum"), Some("done"), None, None, None, Some("echo")]);
    assert_eq!(Calc::Reset.reply_type(), Some("done"));
    assert_eq!(Calc::Done.reply_type(), None);

    let schema = Calc::json_schema();
    assert!(schema.to_string().contains(r#""x-reply":"sum""#));
    let asyncapi = Calc::asyncapi();
    assert_eq!(asyncapi["channels"]["Calc"]["address"], "/calc");
    assert_eq!(
        asyncapi["operations"]["receiveReset"]["reply"]["messages"][0]["$ref"],
        "#/channels/Calc/messages/done"
    );
    let ts = Calc::typescript();
    assert!(ts.contains("  add: Sum;\n  reset: Done;\n  echo: Echo;\n"), "{ts}");
    let ts = Adjacent::typescript();
    assert!(ts.contains("export class AdjacentClient"), "{ts}");
}
