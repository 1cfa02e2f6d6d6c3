// Runs the generated `RpcClient` (rpc.ts) in Node against ws-core's
// request/reply test protocol, served by the browser test
// `typescript_client::rpc_client_runs_in_node` (ws-core/tests/support/rpc.rs),
// which starts this with the server's URL:
//
//   node rpc.run.js ws://127.0.0.1:PORT/rpc
//
// Request ids, `ServerError`, `RequestTimeout`, `on` and its unsubscribe,
// `onRequest` answering a request of the server, and a close rejecting what
// is pending.

import { RequestTimeout, RpcClient, ServerError, type Noted, type Pong, type StateChange } from "./rpc.js";
import { check, rejection, run, same, until, urlArgument } from "./harness.js";

const url = urlArgument();
let client: RpcClient;
const notes: Noted[] = [];
const pongs: Pong[] = [];

await run("rpc", [
  ["connect", async () => {
    client = await RpcClient.connect(url, { timeoutMs: 5_000 });
    client.on("noted", (message) => notes.push(message));
  }],
  ["a request gets its reply", async () => {
    same(await client.request({ type: "ping", n: 1 }), { id: 1, type: "pong", n: 2 }, "ping");
    same((await client.request({ type: "add", a: 2, b: 40 })).value, 42, "add");
    same((await client.request({ type: "echo", text: "e" })).text, "e", "echo");
  }],
  ["a handler's error rejects with ServerError", async () => {
    const error = await rejection(client.request({ type: "refuse", how: "reply" }), "refuse reply");
    check(error instanceof ServerError, `a ServerError, got ${String(error)}`);
    same([error.frame.type, error.frame.code, error.frame.message], ["error", "not_allowed", "you may not"], "the frame");
    check(typeof error.frame.id === "number", "the frame carries the request's id");
    same(error.name, "ServerError", "its name");
    const internal = await rejection(client.request({ type: "refuse", how: "internal" }), "refuse internal");
    check(internal instanceof ServerError && internal.frame.code === "internal", `internal: ${String(internal)}`);
    // The connection is still usable, and the next id is fresh.
    same((await client.request({ type: "ping", n: 3 })).n, 4, "a request after the errors");
  }],
  ["no reply in time rejects with RequestTimeout; ids match replies", async () => {
    const stop = client.on("pong", (message) => pongs.push(message));
    // The server sleeps 2 s before it answers; the client waits 100 ms.
    const error = await rejection(client.request({ type: "slow", n: 9, delay_ms: 2_000 }, 100), "slow");
    check(error instanceof RequestTimeout, `a RequestTimeout, got ${String(error)}`);
    same([error.timeoutMs, error.request.type, error.name], [100, "slow", "RequestTimeout"], "the timeout");
    // The server answers in order: the late pong, then this ping's. Matched
    // by id, the ping's promise gets its own reply and the late one goes to
    // `on` (matched by order, the ping would get the late pong).
    const next = await client.request({ type: "ping", n: 3 });
    same(next.n, 4, "the request after the timeout");
    same(pongs.map((p) => p.n), [9], "the late reply, to `on`");
    check(pongs[0]?.id !== next.id, "the late reply kept its own id");
    stop();
  }],
  ["on fires for notes and stops after unsubscribing", async () => {
    // `chatty` sends a note, then its reply: the note is dispatched first.
    const reply = await client.request({ type: "chatty", n: 5 });
    same([reply.n, notes.map((n) => n.text)], [5, ["before the reply"]], "chatty");
    const more: Noted[] = [];
    const stop = client.on("noted", (message) => more.push(message));
    client.send({ type: "note", text: "a" });
    await until("note a", () => more.length === 1 && notes.length === 2);
    stop();
    client.send({ type: "note", text: "b" });
    // Handled in order: once the ping's reply is in, note b was dispatched.
    await client.request({ type: "ping", n: 0 });
    same(notes.map((n) => n.text), ["before the reply", "a", "b"], "the handler still subscribed");
    same(more.map((n) => n.text), ["a"], "the handler stopped after `a`");
    same(pongs.length, 1, "the pong handler stopped too");
  }],
  ["onRequest answers a request of the server, with its id", async () => {
    const stop = client.onRequest("give", async (request) => ({ type: "given", n: request.hint * 2 }));
    const got: Noted[] = [];
    const stopNotes = client.on("noted", (message) => got.push(message));
    client.send({ type: "ask_me", hint: 21 });
    await until("the server's note of the answer", () => got.length === 1);
    same(got[0]?.text, "given 42", "the answer reached the waiting request");
    stopNotes();
    stop();
  }],
  ["getToken: the token opens the connection and refreshes it past its expiry", async () => {
    // Tokens live 1.2 s; the server asks for a refresh 1 s ahead.
    let tokens = 0;
    const changes: StateChange[] = [];
    const expiring = await RpcClient.connect(url, {
      getToken: async () => {
        tokens += 1;
        return "ts:1200";
      },
    });
    expiring.onState((change) => changes.push(change));
    const firstExpiry = Date.now() + 1200;
    // Outlives the first token's session with the same connection.
    while (Date.now() < firstExpiry + 300) {
      same((await expiring.request({ type: "ping", n: 1 })).n, 2, "a ping while refreshing");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    check(tokens >= 3, `a token for the open and one per refresh, got ${tokens}`);
    same(changes, [], "no close, no reconnect");
    same(expiring.state, "open", "still open");
    expiring.close();
  }],
  ["getToken: a refused refresh closes with 4003", async () => {
    let tokens = 0;
    const refused = await RpcClient.connect(url, {
      getToken: async () => (++tokens === 1 ? "ts:500" : "forged"),
    });
    const closed = new Promise<StateChange>((resolve) => refused.onState((change) => resolve(change)));
    const change = await closed;
    same([change.state, change.code, change.reason], ["closed", 4003, "invalid token"], "the close");
  }],
  ["a close rejects the pending request", async () => {
    const error = await rejection(client.request({ type: "refuse", how: "close" }), "refuse close");
    check(error instanceof Error && !(error instanceof ServerError), `a plain Error, got ${String(error)}`);
    same(error.message, "connection closed (4000 handler closed)", "the close");
  }],
]);
