// Compiled with the generated chat.ts by `tsc --strict` (frontend/check.sh):
// what a frontend writes must type-check, and each `@ts-expect-error` line
// must be an error, so types that are too loose fail the build as well as
// types that are wrong.

import {
  ChatClient,
  PATH,
  RECONNECT_CODES,
  type ClientMessage,
  type ConnectionState,
  type Members,
  type Present,
  type PresentUser,
  type Said,
  type ServerMessage,
  type StreamPosition,
} from "./chat";

export async function chat(host: string): Promise<void> {
  const client = await ChatClient.connect(`ws://${host}${PATH}`, { timeoutMs: 2000 });
  client.send({ type: "join", room: "lobby" });
  client.send({ type: "say", room: "lobby", text: "hi" });
  client.send({ type: "echo", text: "ping" });
  const stop = client.on("said", (message) => {
    const said: Said = message;
    const from: string = message.from;
    console.log(said.room, from, message.text);
  });
  stop();
  client.on("echo", (message) => console.log(message.text.toUpperCase()));
  client.on("error", (frame) => console.log(frame.code, frame.message));
  client.onError((frame) => console.log(frame.code));

  // @ts-expect-error `said` is sent by the server, not by clients
  client.send({ type: "said", room: "r", text: "t", from: "f" });
  // @ts-expect-error `join` needs its room
  client.send({ type: "join" });
  // @ts-expect-error `text` is a string
  client.send({ type: "echo", text: 1 });
  // @ts-expect-error no message is called `welcome`
  client.on("welcome", () => {});
  // @ts-expect-error `refresh_required` is answered by the client, never handed to `on`
  client.on("refresh_required", () => {});
  // A refresh may be sent unasked, with a new credential.
  client.send({ type: "refresh", token: "t" });
  // @ts-expect-error a refresh carries its token
  client.send({ type: "refresh" });
  client.on("echo", (message) => {
    // @ts-expect-error an echo has no room
    console.log(message.room);
  });
  // `count` is a request: its reply is typed, and correlated by id.
  const members: Members = await client.request({ type: "count", room: "lobby" }, 1000);
  const count: number = members.count;
  console.log(members.room, count);
  // @ts-expect-error `echo` declares no reply
  await client.request({ type: "echo", text: "x" });
  // `who` is a request too: its reply lists users with their connections.
  const present: Present = await client.request({ type: "who", room: "lobby" }, 1000);
  const tabs: number = present.users[0]?.connections ?? 0;
  const first: PresentUser | undefined = present.users[0];
  const typingNow: boolean = first?.typing ?? false;
  console.log(present.room, tabs, first?.user, typingNow);
  // Typing is the connection's presence meta: others see it in `present`
  // and as `updated` users of `presence_diff`.
  client.send({ type: "typing", room: "lobby", typing: true });
  // @ts-expect-error `typing` is a boolean
  client.send({ type: "typing", room: "lobby", typing: "yes" });
  client.on("presence_diff", (diff) => {
    const changed: PresentUser[] = diff.updated;
    console.log(changed.filter((u) => u.typing).map((u) => u.user));
  });
  // @ts-expect-error the reply of `count` is `members`, which has no `text`
  console.log((await client.request({ type: "count", room: "r" })).text);
  // Reconnecting and resuming.
  const resuming = await ChatClient.connect(`ws://${host}${PATH}`, {
    reconnect: { initialDelayMs: 100, maxDelayMs: 5000, maxAttempts: 10, retry: (code) => code !== 4001 },
  });
  resuming.onReconnect(() => resuming.send({ type: "join", room: "lobby", since: resuming.since("lobby") }));
  resuming.onRecovery(({ room, recovered, reason }) => console.log(room, recovered, reason));
  resuming.onState(({ state, code }) => {
    const now: ConnectionState = state;
    console.log(now, code);
  });
  const position: StreamPosition | undefined = resuming.since("lobby");
  console.log(position?.epoch, position?.offset, RECONNECT_CODES.has(1012));
  // @ts-expect-error no state is called `reconnected`
  const wrong: ConnectionState = "reconnected";
  console.log(wrong);
  // @ts-expect-error `reconnect` is a policy or false
  await ChatClient.connect("ws://x", { reconnect: true });
  await ChatClient.connect("ws://x", { reconnect: false });
  client.close(1000, "bye");
}

/** The union is discriminated by `type`: the switch is exhaustive. */
export function describe(message: ServerMessage): string {
  switch (message.type) {
    case "said":
      return `${message.from}: ${message.text}`;
    case "echo":
      return message.text;
    case "members":
      return `${message.room}: ${message.count}`;
    case "error":
      return `${message.code}: ${message.message}`;
    case "joined":
      return message.recovered
        ? `${message.room}: resumed at ${message.epoch}/${message.offset}`
        : `${message.room}: joined at ${message.offset}${message.reason ? ` (${message.reason})` : ""}`;
    case "present":
      return `${message.room}: ${message.users.map((u) => `${u.user} x${u.connections}${u.typing ? " (typing)" : ""}`).join(", ")}`;
    case "presence_diff":
      return `${message.room}: +${message.joined.map((u) => u.user).join(",")} -${message.left.join(",")} ~${message.updated.map((u) => u.user).join(",")}`;
    // The framework's frame: the client answers it itself (`getToken`).
    case "refresh_required":
      return `session expires in ${message.expires_in_ms} ms`;
  }
}

export const sent: ClientMessage[] = [
  { type: "join", room: "r" },
  { type: "leave", room: "r" },
  { type: "say", room: "r", text: "t" },
  { type: "echo", text: "e" },
  { type: "count", room: "r" },
  { type: "who", room: "r" },
  { type: "typing", room: "r", typing: false },
  { type: "refresh", token: "t" },
];
