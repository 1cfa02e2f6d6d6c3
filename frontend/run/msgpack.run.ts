// Runs the generated `ChatClient` (chat.ts) in Node against the chat
// example speaking MessagePack (frontend/check.sh), with the npm package
// @msgpack/msgpack as its codec:
//
//   node msgpack.run.js ws://127.0.0.1:PORT/ws
//
// The same typed API as JSON: a request gets its typed reply with its id,
// a said carries its room's epoch and offset, an error frame reaches
// onError; and a JSON client in the same room gets the same messages.

import { decode, encode } from "@msgpack/msgpack";
import { ChatClient, SUBPROTOCOL, type ClientMessage, type ErrorFrame, type Said } from "./chat.js";
import { check, run, same, until, urlArgument } from "./harness.js";

const url = urlArgument();
const room = `msgpack-${Date.now()}`;
let ann: ChatClient;
let bob: ChatClient;
const annSaid: Said[] = [];
const bobSaid: Said[] = [];
const errors: ErrorFrame[] = [];

await run("msgpack", [
  ["connect", async () => {
    ann = await ChatClient.connect(`${url}?user=ann`, { timeoutMs: 5_000, msgpack: { encode, decode } });
    bob = await ChatClient.connect(`${url}?user=bob`, { timeoutMs: 5_000 });
    same(ann.socket.protocol, `${SUBPROTOCOL}.msgpack`, "the subprotocol the server selected");
    check(ann.binary && !bob.binary, "ann speaks MessagePack, bob JSON");
    ann.on("said", (message) => annSaid.push(message));
    bob.on("said", (message) => bobSaid.push(message));
    ann.onError((frame) => errors.push(frame));
  }],
  ["a request gets its reply", async () => {
    ann.send({ type: "join", room });
    bob.send({ type: "join", room });
    await bob.request({ type: "count", room });
    same(await ann.request({ type: "count", room }), { id: 1, type: "members", room, count: 2 }, "ann's count");
  }],
  ["a mixed room: each in its codec", async () => {
    ann.send({ type: "say", room, text: "from msgpack" });
    // Two connections' messages have no order between them: one at a time.
    await until("both see ann's", () => annSaid.length === 1 && bobSaid.length === 1);
    bob.send({ type: "say", room, text: "from json" });
    await until("both see both", () => annSaid.length === 2 && bobSaid.length === 2);
    same(annSaid, bobSaid, "the same messages, field for field");
    const { epoch, offset, ...said } = annSaid[0];
    same(said, { type: "said", room, text: "from msgpack", from: "ann" }, "ann's said");
    check(typeof epoch === "string" && offset === 1, "the said has the room's epoch and offset 1");
  }],
  ["an error frame in MessagePack", async () => {
    ann.send({ type: "said", room, text: "x", from: "ann" } as unknown as ClientMessage);
    await until("the error frame", () => errors.length === 1);
    same(errors[0]?.code, "wrong_direction", "the error's code");
  }],
  ["close", async () => {
    ann.close(1000, "bye");
    bob.close(1000, "bye");
  }],
]);
