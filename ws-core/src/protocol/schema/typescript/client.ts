//# The client class of the TypeScript module that `typescript.rs` writes
//# for a protocol with a tag. Lines starting with `//#` are the template's
//# own: `//#if NAME` .. `//#end` keeps what is between when NAME holds
//# (`resume`: the protocol records messages; `ack`: `correlate = "all"`;
//# `server_requests`: the server makes requests; `tsc`: never, for tsc
//# alone), and the other `//#` lines, like this one, are dropped.
//#
//# Placeholders, replaced in the output: `__CLIENT__` the class's name,
//# `__NAME__` the protocol's, `__TAG__` the tag as a string literal,
//# `__TAG_KEY__` as a property name, `__TAGGED__` the server messages that
//# carry it, `__SUBPROTOCOL__` the subprotocol's base name as a string
//# literal, `__REQUESTS__` the wire names of the server's requests.
//#
//# `frontend/check.sh` type-checks this file with `tsc --strict` as it is,
//# every region kept: `placeholders.ts` declares what the placeholders and
//# the rest of the generated module stand for.
//#if tsc
import type { Answers, ClientMessage, ErrorFrame, RefreshFrame, Replies, ServerMessage, __TAGGED__ } from "./placeholders";
import { __REQUESTS__, __SUBPROTOCOL__, __TAG__ } from "./placeholders";
//#end
//#if resume

/** A place in a room's history: its epoch and the last offset processed. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/**
 * How a (re)join went, from the server's answer to it (a message with the
 * room, `epoch`, `offset` and `recovered`): `recovered` when every message
 * after the position sent follows; else `reason` says why not
 * (`epoch_changed`, `too_far_behind`, `expired`), and none when no position
 * was sent.
 */
export interface Recovery {
  room: string;
  recovered: boolean;
  reason?: string;
  epoch: string;
  offset: number;
}
//#end
/** Server messages that `on` can select by their tag. */
export type TaggedServerMessage = __TAGGED__;

/** The base of the protocol's subprotocol names: `<SUBPROTOCOL>.json`, `<SUBPROTOCOL>.msgpack`. */
export const SUBPROTOCOL = __SUBPROTOCOL__;

/**
 * A MessagePack implementation, e.g. the npm package `@msgpack/msgpack`:
 * `import { encode, decode } from "@msgpack/msgpack"` and pass `{ encode, decode }`.
 */
export interface BinaryCodec {
  encode(value: unknown): Uint8Array;
  decode(data: Uint8Array): unknown;
}

/** Options of {@link __CLIENT__}. */
export interface ClientOptions {
  /** How long `request` waits for its reply, in milliseconds (default 10000). */
  timeoutMs?: number;
  /**
   * Speak MessagePack with this codec: the client asks for
   * `<SUBPROTOCOL>.msgpack`, and uses it if the server selects it (JSON
   * otherwise). Objects are maps keyed by field name: the same types.
   */
  msgpack?: BinaryCodec;
  /** When and how fast to reconnect after a drop; `false` never reconnects. */
  reconnect?: ReconnectPolicy | false;
  /**
   * Where the client gets its credential. Awaited before every open (the
   * first and each reconnect), whose URL carries it as `?access_token=`
   * (browsers cannot set headers on a WebSocket), and whenever the server
   * sends `{"type":"refresh_required","expires_in_ms":N}` (the session is
   * about to expire), answered with `{"type":"refresh","token":..}` on the
   * open connection, out of access logs. With it, a close 4001 (the
   * session expired) is retried with a fresh token.
   */
  getToken?: () => Promise<string>;
}

/**
 * How the client reconnects: exponential backoff with full jitter, capped.
 * Attempt `n` (0 first) waits a uniformly random time in
 * `[0, min(maxDelayMs, initialDelayMs * 2 ** n))`; the count restarts once a
 * connection opens.
 */
export interface ReconnectPolicy {
  /** The bound of the first attempt's delay, in milliseconds (default 500). */
  initialDelayMs?: number;
  /** The cap of the delay bound, in milliseconds (default 30000). */
  maxDelayMs?: number;
  /** Failed attempts in a row before the client gives up and is `closed` (default unbounded). */
  maxAttempts?: number;
  /**
   * How long an attempt may take to open before it counts as failed, in
   * milliseconds (default 10000): a handshake a stopping server never answers
   * must not stall the reconnecting.
   */
  openTimeoutMs?: number;
  /** Whether a close with `code` is retried (default: it is in {@link RECONNECT_CODES}). */
  retry?: (code: number) => boolean;
}

/**
 * The close codes after which the client reconnects by default: 1001 (going
 * away) and 1012 (service restart), which a server sends when it stops or
 * deploys, and 1006 (the connection dropped without a close frame) are
 * retried at once, with jitter; 1011 (internal error), 1013 (try again
 * later) and 1014 (bad gateway) after a longer backoff. Never after `close()`,
 * nor after 1000 (the server meant it), 1008 (policy), 1002, 1003, 1007,
 * 1009 and 1010 (the same traffic would fail again), or an application code
 * 4000-4999: the application decides.
 */
export const RECONNECT_CODES: ReadonlySet<number> = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

/** `url` carrying `token` as its `access_token` query parameter. */
function withToken(url: string | URL, token: string): string {
  const next = new URL(url);
  next.searchParams.set("access_token", token);
  return next.toString();
}

/** `url` without its `access_token`. */
function withoutToken(url: string): string {
  const next = new URL(url);
  next.searchParams.delete("access_token");
  return next.toString();
}

/** Where the client's connection is; `reconnecting` between a drop and the next open. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** A change of {@link ConnectionState}, with the close that caused it and the next attempt. */
export interface StateChange {
  state: ConnectionState;
  /** The close code and reason that left `open` (or the failed attempt). */
  code?: number;
  reason?: string;
  /** When reconnecting: the attempt (0 first) and its delay in milliseconds. */
  attempt?: number;
  delayMs?: number;
}

/** The server refused a request, or its handler failed. */
export class ServerError extends Error {
  constructor(readonly frame: ErrorFrame) {
    super(`${frame.code}: ${frame.message}`);
    this.name = "ServerError";
  }
}

/** No reply within the timeout. */
export class RequestTimeout extends Error {
  constructor(readonly request: ClientMessage, readonly timeoutMs: number) {
    super(`no reply to \`${String(request[__TAG__])}\` within ${timeoutMs} ms`);
    this.name = "RequestTimeout";
  }
}

interface Pending {
  resolve: (reply: ServerMessage) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A typed client of the `__NAME__` protocol over a browser `WebSocket`. It
 * reconnects to the same URL by itself (see {@link ReconnectPolicy}); what
 * was pending is rejected at the drop, and `onReconnect` handlers rejoin.
 */
export class __CLIENT__ {
  /** How long `request` waits by default, in milliseconds. */
  timeoutMs: number;
  private nextId = 1;
  private current: WebSocket;
  private connection: ConnectionState;
  private closing = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryPending = false;
  private readonly url: string;
  private readonly getToken: (() => Promise<string>) | undefined;
  private readonly msgpack: BinaryCodec | undefined;
  private readonly policy: Required<ReconnectPolicy> | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<(message: TaggedServerMessage) => void>>();
  private readonly errorHandlers = new Set<(error: ErrorFrame) => void>();
  private readonly stateHandlers = new Set<(change: StateChange) => void>();
  private readonly reconnectHandlers = new Set<() => void>();
  //#if resume
  private readonly positions = new Map<string, StreamPosition>();
  private readonly recoveryHandlers = new Set<(recovery: Recovery) => void>();
  //#end
  /** Wraps an open (or opening) socket; reconnects to its URL. */
  constructor(socket: WebSocket, options: ClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.getToken = options.getToken;
    // The token of the first open is not the next one's.
    this.url = options.getToken === undefined ? socket.url : withoutToken(socket.url);
    this.msgpack = options.msgpack;
    const policy = options.reconnect ?? {};
    this.policy = policy === false
      ? undefined
      : {
        initialDelayMs: policy.initialDelayMs ?? 500,
        maxDelayMs: policy.maxDelayMs ?? 30000,
        maxAttempts: policy.maxAttempts ?? Infinity,
        openTimeoutMs: policy.openTimeoutMs ?? 10000,
        retry: policy.retry ?? ((code) => RECONNECT_CODES.has(code) || (code === 4001 && options.getToken !== undefined)),
      };
    this.current = socket;
    this.connection = socket.readyState === 1 ? "open" : "connecting";
    this.watch(socket, undefined);
  }

  /** Whether the connection speaks MessagePack (the server selected it). */
  get binary(): boolean {
    return this.msgpack !== undefined && this.current.protocol === `${SUBPROTOCOL}.msgpack`;
  }

  /** The current socket (a new one after each reconnect). */
  get socket(): WebSocket {
    return this.current;
  }

  /** Where the connection is. */
  get state(): ConnectionState {
    return this.connection;
  }

  /** Calls `handler` at each change of {@link state}; returns a function that stops it. */
  onState(handler: (change: StateChange) => void): () => void {
    this.stateHandlers.add(handler);
    return () => {
      this.stateHandlers.delete(handler);
    };
  }

  /**
   * Calls `handler` each time a reconnect has opened, before any message of
   * the new connection is dispatched: the place to rejoin rooms.
   */
  onReconnect(handler: () => void): () => void {
    this.reconnectHandlers.add(handler);
    return () => {
      this.reconnectHandlers.delete(handler);
    };
  }

  /** Opens a socket to `url` (e.g. `ws://host` + `PATH`) and resolves once it is open. */
  static async connect(url: string | URL, options: ClientOptions = {}): Promise<__CLIENT__> {
    const opened = options.getToken === undefined ? url : withToken(url, await options.getToken());
    return new Promise((resolve, reject) => {
      const socket = __CLIENT__.open(opened, options.msgpack);
      const failed = () => reject(new Error(`cannot connect to ${String(url)}`));
      socket.addEventListener("error", failed, { once: true });
      socket.addEventListener(
        "open",
        () => {
          socket.removeEventListener("error", failed);
          resolve(new __CLIENT__(socket, options));
        },
        { once: true },
      );
    });
  }

  /** A socket asking for MessagePack when given a codec. */
  private static open(url: string | URL, msgpack: BinaryCodec | undefined): WebSocket {
    if (msgpack === undefined) return new WebSocket(url);
    const socket = new WebSocket(url, [`${SUBPROTOCOL}.msgpack`]);
    socket.binaryType = "arraybuffer";
    return socket;
  }

  /** Sends a message; throws unless the connection is open (a reconnect drops nothing silently). */
  send(message: ClientMessage): void {
    this.transmit(message);
  }

  //#if ack
  /**
   * Sends a message with a fresh correlation `id` and resolves once the server
   * has handled it: with its `ack`, or with the reply the handler sent early
   * (`ctx.reply`). Rejects with `ServerError` if the handler failed, and with
   * `RequestTimeout` after `timeoutMs`. Not a `RefreshFrame`: the server
   * acknowledges none.
   */
  sendWithAck(message: Exclude<ClientMessage, RefreshFrame>, timeoutMs: number = this.timeoutMs): Promise<ServerMessage> {
    const id = this.nextId++;
    return new Promise<ServerMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeout(message, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.transmit({ ...message, id });
    });
  }

  //#end
  //#if server_requests
  private readonly requestHandlers = new Map<string, (request: TaggedServerMessage) => unknown>();
  private static readonly serverRequests: ReadonlySet<unknown> = new Set<unknown>([__REQUESTS__]);

  /**
   * Answers every `type` request of the server with what `handler` returns
   * (or resolves to), sent with the request's `id`; returns a function that
   * stops it. One handler per type: a second replaces the first. A handler
   * that throws sends nothing, and so does a request without a handler (it
   * goes to `on`): the server's request times out.
   */
  onRequest<T extends keyof Answers>(
    type: T,
    handler: (request: Extract<TaggedServerMessage, { __TAG_KEY__: T }>) => Answers[T] | Promise<Answers[T]>,
  ): () => void {
    const registered = handler as unknown as (request: TaggedServerMessage) => unknown;
    this.requestHandlers.set(type, registered);
    return () => {
      if (this.requestHandlers.get(type) === registered) this.requestHandlers.delete(type);
    };
  }

  private answerRequest(request: TaggedServerMessage, tag: string, id: unknown): void {
    const handler = this.requestHandlers.get(tag);
    if (handler === undefined || typeof id !== "number") {
      this.handlers.get(tag)?.forEach((listener) => listener(request));
      return;
    }
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (answer) => {
          if (this.socket.readyState === WebSocket.OPEN) {
            this.transmit({ ...(answer as object), id });
          }
        },
        () => undefined,
      );
  }

  //#end
  //#if resume
  /**
   * The last position seen in `room`: the `since` of a rejoin, so that the
   * server replays what was missed. Tracked from every message that names
   * a `room` and carries `epoch` and `offset`.
   */
  since(room: string): StreamPosition | undefined {
    return this.positions.get(room);
  }

  /** Forgets `room`'s position (after leaving it). */
  forget(room: string): void {
    this.positions.delete(room);
  }

  /** Calls `handler` with the outcome of each (re)join; returns a function that stops it. */
  onRecovery(handler: (recovery: Recovery) => void): () => void {
    this.recoveryHandlers.add(handler);
    return () => {
      this.recoveryHandlers.delete(handler);
    };
  }

  //#end
  /** Calls `handler` with every `type` message; returns a function that stops it. */
  on<T extends TaggedServerMessage[__TAG__]>(
    type: T,
    handler: (message: Extract<TaggedServerMessage, { __TAG_KEY__: T }>) => void,
  ): () => void {
    const registered = handler as (message: TaggedServerMessage) => void;
    const set = this.handlers.get(type) ?? new Set<(message: TaggedServerMessage) => void>();
    this.handlers.set(type, set);
    set.add(registered);
    return () => {
      set.delete(registered);
    };
  }

  /** Calls `handler` with every error frame that answers no pending request. */
  onError(handler: (error: ErrorFrame) => void): () => void {
    this.errorHandlers.add(handler);
    return () => {
      this.errorHandlers.delete(handler);
    };
  }

  /**
   * Sends a request with a fresh correlation `id` and resolves with its reply;
   * rejects with `ServerError` if the server answers with an error frame, and
   * with `RequestTimeout` after `timeoutMs`.
   */
  request<T extends keyof Replies>(
    message: Extract<ClientMessage, { __TAG_KEY__: T }>,
    timeoutMs: number = this.timeoutMs,
  ): Promise<Replies[T]> {
    const id = this.nextId++;
    return new Promise<Replies[T]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeout(message, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (reply) => resolve(reply as unknown as Replies[T]),
        reject,
        timer,
      });
      this.transmit({ ...message, id });
    });
  }

  /** Closes the connection for good: no reconnect follows. */
  close(code?: number, reason?: string): void {
    this.closing = true;
    clearTimeout(this.retryTimer);
    // Between attempts, no socket is left to report the close.
    if (this.retryPending || this.current.readyState === 3) this.change({ state: "closed", code, reason });
    else this.current.close(code, reason);
  }

  private transmit(message: object): void {
    if (this.current.readyState !== 1) throw new Error(`not connected (${this.connection})`);
    if (this.binary && this.msgpack !== undefined) this.current.send(this.msgpack.encode(message));
    else this.current.send(JSON.stringify(message));
  }

  /** Answers `refresh_required` with a fresh token; without `getToken`, the session expires (4001). */
  private refresh(): void {
    const socket = this.current;
    this.getToken?.().then(
      (token) => {
        const frame: RefreshFrame = { type: "refresh", token };
        if (socket === this.current && socket.readyState === 1) this.transmit(frame);
      },
      // No token: the server closes with 4001 at the expiry, and the
      // reconnect asks again.
      () => {},
    );
  }

  private change(change: StateChange): void {
    this.connection = change.state;
    this.stateHandlers.forEach((handler) => handler(change));
  }

  /** Follows `socket`; `attempt` is the reconnect attempt it is, if one. */
  private watch(socket: WebSocket, attempt: number | undefined): void {
    let opened = socket.readyState === 1;
    let abandoned = false;
    const policy = this.policy;
    const openTimer = attempt === undefined || policy === undefined
      ? undefined
      : setTimeout(() => {
        abandoned = true;
        socket.close();
        if (!this.closing) this.schedule(policy, attempt + 1, { code: 1006, reason: "open timed out" });
      }, policy.openTimeoutMs);
    socket.addEventListener("open", () => {
      opened = true;
      clearTimeout(openTimer);
      if (socket !== this.current || abandoned) return;
      this.change({ state: "open" });
      if (attempt !== undefined) this.reconnectHandlers.forEach((handler) => handler());
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      if (socket === this.current) this.dispatch(event.data);
    });
    socket.addEventListener("close", (event: CloseEvent) => {
      clearTimeout(openTimer);
      if (socket !== this.current || abandoned) return;
      const error = new Error(`connection closed (${event.code} ${event.reason})`);
      this.pending.forEach((pending) => {
        clearTimeout(pending.timer);
        pending.reject(error);
      });
      this.pending.clear();
      const cause = { code: event.code, reason: event.reason };
      if (this.closing || policy === undefined) return this.change({ state: "closed", ...cause });
      if (!opened) {
        // A failed reconnect backs off further; a failed first connect is `connect`'s to report.
        if (attempt === undefined) return this.change({ state: "closed", ...cause });
        return this.schedule(policy, attempt + 1, cause);
      }
      if (!policy.retry(event.code)) return this.change({ state: "closed", ...cause });
      // A restart or a drop: at once (with jitter); an error or overload: later.
      const now = event.code === 1001 || event.code === 1006 || event.code === 1012;
      this.schedule(policy, now ? 0 : 2, cause);
    });
  }

  private schedule(policy: Required<ReconnectPolicy>, attempt: number, cause: { code: number; reason: string }): void {
    if (attempt >= policy.maxAttempts) return this.change({ state: "closed", ...cause });
    const delayMs = Math.random() * Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** attempt);
    this.change({ state: "reconnecting", ...cause, attempt, delayMs });
    this.retryPending = true;
    this.retryTimer = setTimeout(() => {
      const reopen = (url: string) => {
        this.retryPending = false;
        if (this.closing) return;
        const socket = __CLIENT__.open(url, this.msgpack);
        this.current = socket;
        this.watch(socket, attempt);
      };
      if (this.getToken === undefined) return reopen(this.url);
      this.getToken().then(
        (token) => reopen(withToken(this.url, token)),
        // No token now: an attempt that failed, backing off further.
        () => {
          this.retryPending = false;
          if (!this.closing) this.schedule(policy, attempt + 1, { code: 1006, reason: "getToken failed" });
        },
      );
    }, delayMs);
  }

  private dispatch(data: unknown): void {
    let parsed: unknown;
    try {
      if (typeof data === "string") parsed = JSON.parse(data);
      else if (data instanceof ArrayBuffer && this.msgpack !== undefined) parsed = this.msgpack.decode(new Uint8Array(data));
      else return;
    } catch {
      return;
    }
    if (typeof parsed !== "object" || parsed === null) return;
    const fields = parsed as Record<string, unknown>;
    if (fields["type"] === "refresh_required" && typeof fields["expires_in_ms"] === "number") {
      return this.refresh();
    }
    //#if resume
    //# The room is the message's `room` field.
    const room = fields["room"];
    const epoch = fields["epoch"];
    const offset = fields["offset"];
    if (typeof room === "string" && typeof epoch === "string" && typeof offset === "number") {
      const recovered = fields["recovered"];
      if (typeof recovered === "boolean") {
        // After a recovered join the replay moves the position; after a
        // failed one only what follows the room's head comes.
        if (!recovered) this.positions.set(room, { epoch, offset });
        const reason = typeof fields["reason"] === "string" ? fields["reason"] : undefined;
        const recovery: Recovery = { room, recovered, epoch, offset, ...(reason === undefined ? {} : { reason }) };
        this.recoveryHandlers.forEach((handler) => handler(recovery));
      } else {
        this.positions.set(room, { epoch, offset });
      }
    }
    //#end
    const isError = fields["type"] === "error" && typeof fields["code"] === "string";
    const id = fields["id"];
    //#if server_requests
    //# The server chooses the ids of its requests: one may equal the id of a
    //# request of this client, so requests go to `onRequest` before replies
    //# are matched.
    const requested = fields[__TAG__];
    if (typeof requested === "string" && __CLIENT__.serverRequests.has(requested)) {
      this.answerRequest(parsed as TaggedServerMessage, requested, id);
      return;
    }
    //#end
    if (typeof id === "number") {
      const pending = this.pending.get(id);
      if (pending !== undefined) {
        this.pending.delete(id);
        clearTimeout(pending.timer);
        if (isError) pending.reject(new ServerError(parsed as ErrorFrame));
        else pending.resolve(parsed as ServerMessage);
        return;
      }
    }
    const tag = fields[__TAG__];
    if (typeof tag === "string") {
      this.handlers.get(tag)?.forEach((handler) => handler(parsed as TaggedServerMessage));
    }
    if (isError) this.errorHandlers.forEach((handler) => handler(parsed as ErrorFrame));
  }
}
