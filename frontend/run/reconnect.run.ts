// The generated `ChatClient` reconnects and resumes (frontend/check.sh):
//
//   node reconnect.run.js PATH/TO/examples/chat
//
// The runner starts the chat example itself, and reaches it through a TCP
// proxy of its own, so that it can cut a connection without a close frame
// (a 1006 drop) while the server lives on, and restart the server (SIGTERM:
// close 1012, then a new process on the same port, whose history is new).
// Node's modules are imported untyped: `tsc` needs no @types/node.

import { ChatClient, type Recovery, type Said } from "./chat.js";
import { check, run, same, until } from "./harness.js";

declare const process: { argv: string[]; exit(code: number): never };

interface Child {
  kill(signal: string): boolean;
  once(event: "exit", listener: (code: number | null) => void): void;
}
interface Stream {
  pipe(to: Stream): void;
  destroy(): void;
  on(event: string, listener: () => void): void;
}
const { spawn } = (await import("node:child_process" as string)) as {
  spawn(command: string, args: string[], options: { stdio: string }): Child;
};
const net = (await import("node:net" as string)) as {
  createServer(onConnection: (socket: Stream) => void): {
    listen(port: number, host: string, ready: () => void): void;
    address(): { port: number };
  };
  connect(port: number, host: string): Stream;
};

const binary = process.argv[2];
if (binary === undefined) {
  console.error("usage: node reconnect.run.js PATH/TO/chat");
  process.exit(2);
}

async function freePort(): Promise<number> {
  const server = net.createServer(() => {}) as unknown as {
    listen(port: number, host: string, ready: () => void): void;
    address(): { port: number };
    close(): void;
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  server.close();
  return port;
}

const serverPort = await freePort();
let server: Child | undefined;
async function startServer(): Promise<void> {
  server = spawn(binary!, ["--addr", `127.0.0.1:${serverPort}`], { stdio: "ignore" });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${serverPort}/`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error("the chat server did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

// The proxy: one upstream connection per client connection; `cut` drops
// them all without a close frame.
const live = new Set<Stream>();
const proxy = net.createServer((client) => {
  const upstream = net.connect(serverPort, "127.0.0.1");
  const drop = () => {
    client.destroy();
    upstream.destroy();
    live.delete(client);
  };
  live.add(client);
  client.on("error", drop);
  upstream.on("error", drop);
  client.pipe(upstream);
  upstream.pipe(client);
});
await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const cut = () => live.forEach((socket) => socket.destroy());

const room = `resume-${Date.now()}`;
const policy = { initialDelayMs: 100, maxDelayMs: 1_000, openTimeoutMs: 2_000 };
let ann: ChatClient;
let pub: ChatClient;
const lines: string[] = [];
const states: string[] = [];
const recoveries: Recovery[] = [];
let sent = 0;

async function publish(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await until("the publisher is open", () => pub.state === "open");
    pub.send({ type: "say", room, text: `line ${++sent}` });
  }
}

function expected(): string[] {
  return Array.from({ length: sent }, (_, i) => `line ${i + 1}`);
}

await run("reconnect", [
  ["connect through the proxy", async () => {
    await startServer();
    ann = await ChatClient.connect(`ws://127.0.0.1:${proxy.address().port}/ws?user=ann`, { reconnect: policy });
    pub = await ChatClient.connect(`ws://127.0.0.1:${serverPort}/ws?user=pub`, { reconnect: policy });
    ann.on("said", (message: Said) => lines.push(message.text));
    ann.onState(({ state, code }) => states.push(code === undefined ? state : `${state} ${code}`));
    ann.onRecovery((recovery) => recoveries.push(recovery));
    // The rejoin sends the last position seen: what was missed follows.
    ann.onReconnect(() => ann.send({ type: "join", room, since: ann.since(room) }));
    ann.send({ type: "join", room });
    await until("ann's join", () => recoveries.length === 1);
    same([recoveries[0]?.recovered, recoveries[0]?.reason], [false, undefined], "a first join");
  }],
  ["a dropped TCP connection resumes every line", async () => {
    await publish(20);
    await until("ann's first lines", () => lines.length === 20);
    cut();
    // Published while ann is away or rejoining: the replay brings them.
    await publish(200);
    await until("every line, after the drop", () => lines.length >= sent && ann.state === "open", 15_000);
    await publish(20);
    await until("the live lines", () => lines.length >= sent);
    same(lines, expected(), "every line once, in order");
    same(states.slice(0, 2), ["reconnecting 1006", "open"], "ann's states");
    same([recoveries.length, recoveries[1]?.recovered], [2, true], "the resume recovered");
  }],
  ["a restart (1012) reports epoch_changed, then goes on", async () => {
    states.length = 0;
    const exited = new Promise<number | null>((resolve) => server!.once("exit", resolve));
    server!.kill("SIGTERM");
    same(await exited, 0, "the chat's exit status after SIGTERM");
    await until("ann reconnecting", () => states.includes("reconnecting 1012"));
    await startServer();
    await until("ann's rejoin", () => recoveries.length === 3, 15_000);
    const { recovered, reason, offset } = recoveries[2]!;
    same([recovered, reason, offset], [false, "epoch_changed", 0], "the rejoin after a restart");
    const before = lines.length;
    await publish(5);
    await until("the lines after the restart", () => lines.length === before + 5);
    same(lines, expected(), "every line once, in order");
    check(ann.state === "open", "ann is open");
  }],
  ["close() does not reconnect", async () => {
    states.length = 0;
    ann.close(1000, "bye");
    pub.close(1000, "bye");
    await until("ann closed", () => ann.state === "closed");
    await new Promise((resolve) => setTimeout(resolve, 300));
    same(states, ["closed 1000"], "ann's states after close()");
    server!.kill("SIGTERM");
  }],
]);


