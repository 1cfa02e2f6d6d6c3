// What `client.ts` takes from the rest of the generated module, so that tsc
// can check the template by itself (`frontend/check.sh`): a value or type
// for each placeholder, and the declarations that `typescript.rs` writes
// before the client, for a small protocol whose tag is the property
// `__TAG_KEY__`. Never part of the output.

/** The tag's name: `"type"` for most protocols. */
export const __TAG__ = "__TAG_KEY__";
export type __TAG__ = typeof __TAG__;

export const __SUBPROTOCOL__ = "example.v1";

/** The wire names of the server's requests. */
export const __REQUESTS__ = "ask";

export interface AckFrame {
  type: "ack";
  id: number | string;
}

export interface ErrorFrame {
  type: "error";
  id?: number | string;
  code: string;
  message: string;
}

/**
 * Tagged `type` whatever the protocol's tag, which is `type` for most:
 * `__TAG_KEY__` is optional so that both spellings check.
 */
export interface RefreshFrame {
  type: "refresh";
  __TAG_KEY__?: "refresh";
  token: string;
}

export interface RefreshRequired {
  type: "refresh_required";
  expires_in_ms: number;
}

export interface Ping {
  __TAG_KEY__: "ping";
  id?: number | string;
  n: number;
}

export interface Pong {
  __TAG_KEY__: "pong";
  id?: number | string;
  n: number;
}

export interface Ask {
  __TAG_KEY__: "ask";
  id?: number | string;
  question: string;
}

export interface Answer {
  __TAG_KEY__: "answer";
  id?: number | string;
  yes: boolean;
}

export type ClientMessage = Ping | Answer | RefreshFrame;

export type ServerMessage = Pong | Ask | ErrorFrame | AckFrame | RefreshRequired;

export interface Replies {
  ping: Pong;
}

export interface Answers {
  ask: Answer;
}

export type __TAGGED__ = Pong | Ask;
