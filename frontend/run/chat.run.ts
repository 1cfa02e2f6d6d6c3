// Runs the generated `ChatClient` (chat.ts) in Node against the chat
// example (frontend/check.sh):
//
//   node chat.run.js ws://127.0.0.1:PORT/ws
//
// A request gets its typed reply, `on` handlers fire and stop once
// unsubscribed, and an uncorrelated error frame reaches `onError` and
// `on("error")`. (The chat's one request, `count`, cannot fail or be slow:
// `ServerError` and `RequestTimeout` are run against a protocol that can,
// in rpc.run.ts.)

import { ChatClient, type ClientMessage, type ErrorFrame, type Said } from "./chat.js";
import { check, run, same, until, urlArgument } from "./harness.js";

const url = urlArgument();
const room = `run-${Date.now()}`;
let ann: ChatClient;
let bob: ChatClient;
const annSaid: Said[] = [];
const bobSaid: Said[] = [];
const bobStopped: Said[] = [];
const bobEchoes: string[] = [];

await run("chat", [
  ["connect", async () => {
    ann = await ChatClient.connect(`${url}?user=ann`, { timeoutMs: 5_000 });
    bob = await ChatClient.connect(`${url}?user=bob`, { timeoutMs: 5_000 });
    ann.on("said", (message) => annSaid.push(message));
    bob.on("said", (message) => bobSaid.push(message));
    bob.on("echo", (message) => bobEchoes.push(message.text));
  }],
  ["a request gets its reply", async () => {
    bob.send({ type: "join", room });
    // One connection's messages are handled in order: bob's join is in
    // before his count is answered, and ann's before hers.
    same(await bob.request({ type: "count", room }), { id: 1, type: "members", room, count: 1 }, "bob's count");
    ann.send({ type: "join", room });
    const members = await ann.request({ type: "count", room });
    same([members.type, members.room, members.count], ["members", room, 2], "ann's count");
    // Concurrent requests are told apart by their ids.
    const [here, empty] = await Promise.all([
      ann.request({ type: "count", room }),
      ann.request({ type: "count", room: `${room}-empty` }),
    ]);
    same([here.count, empty.count, empty.room], [2, 0, `${room}-empty`], "two requests at once");
    check(here.id !== empty.id, "each request has its own id");
  }],
  ["on handlers fire", async () => {
    ann.send({ type: "say", room, text: "one" });
    await until("both see `one`", () => annSaid.length === 1 && bobSaid.length === 1);
    // History is on in the chat example: a said carries its room's epoch
    // and offset, the first of a fresh room being 1.
    const { epoch, offset, ...said } = bobSaid[0];
    same(said, { type: "said", room, text: "one", from: "ann" }, "bob's said");
    check(typeof epoch === "string" && offset === 1, "bob's said has the room's epoch and offset 1");
  }],
  ["and stop after unsubscribing", async () => {
    const stop = bob.on("said", (message) => bobStopped.push(message));
    ann.send({ type: "say", room, text: "two" });
    await until("bob's second handler sees `two`", () => bobStopped.length === 1);
    stop();
    ann.send({ type: "say", room, text: "three" });
    await until("ann sees `three`", () => annSaid.length === 3);
    // `three` was queued to bob when ann's copy was: bob's echo, asked for
    // now, comes after it, so once the echo is in, `three` was dispatched.
    bob.send({ type: "echo", text: "sync" });
    await until("bob's echo", () => bobEchoes.includes("sync"));
    same(bobSaid.map((m) => m.text), ["one", "two", "three"], "the handler still subscribed");
    same(bobStopped.map((m) => m.text), ["two"], "the handler stopped after `two`");
  }],
  ["an error frame reaches onError and on(\"error\")", async () => {
    const viaOnError: ErrorFrame[] = [];
    const viaOn: ErrorFrame[] = [];
    const stopOnError = ann.onError((frame) => viaOnError.push(frame));
    ann.on("error", (frame) => viaOn.push(frame));
    // A server-only message, past the types as a buggy client would send it.
    ann.send({ type: "said", room, text: "x", from: "ann" } as unknown as ClientMessage);
    await until("the error frame", () => viaOnError.length === 1 && viaOn.length === 1);
    same(viaOnError[0]?.code, "wrong_direction", "the error's code");
    check(viaOnError[0]?.id === undefined, "an uncorrelated error has no id");
    stopOnError();
    ann.send({ type: "said", room, text: "y", from: "ann" } as unknown as ClientMessage);
    await until("the second error frame", () => viaOn.length === 2);
    same(viaOnError.length, 1, "onError stopped after unsubscribing");
  }],
  ["close", async () => {
    ann.close(1000, "bye");
    bob.close(1000, "bye");
  }],
]);
