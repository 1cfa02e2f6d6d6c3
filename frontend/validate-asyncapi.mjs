// Validates AsyncAPI documents with @asyncapi/parser (the AsyncAPI
// initiative's own parser: JSON Schema of the spec, then its Spectral
// ruleset) and checks what ws-core promises about them.
//
//   node frontend/validate-asyncapi.mjs target/frontend/chat/asyncapi.json ...
//
// Exits non-zero on any error diagnostic or broken promise; warnings are
// printed.

import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "info", "hint"];
const parser = new Parser();
let failed = false;

function fail(file, message) {
  console.error(`${file}: ${message}`);
  failed = true;
}

for (const file of process.argv.slice(2)) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: file });
  for (const d of diagnostics) {
    const where = d.path.length ? ` at /${d.path.join("/")}` : "";
    const line = `${file}: ${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message}${where}`;
    if (d.severity === 0) console.error(line);
    else console.log(line);
  }
  if (document === undefined || diagnostics.some((d) => d.severity === 0)) {
    fail(file, "not a valid AsyncAPI document");
    continue;
  }

  if (document.version() !== "3.0.0") fail(file, `version ${document.version()}, expected 3.0.0`);
  const channels = document.channels().all();
  if (channels.length !== 1) fail(file, `${channels.length} channels, expected one`);
  const channel = channels[0];
  if (!channel.address()?.startsWith("/")) fail(file, `channel address ${channel.address()}`);

  const operations = document.operations().all();
  for (const operation of operations) {
    const action = operation.action();
    if (action !== "send" && action !== "receive") fail(file, `${operation.id()}: action ${action}`);
    if (operation.messages().length !== 1) fail(file, `${operation.id()}: expected one message`);
    for (const message of operation.messages().all()) {
      const tag = message.payload()?.properties()?.type?.const?.();
      if (tag === undefined) fail(file, `${operation.id()}: payload without a const tag`);
    }
    const reply = operation.reply();
    if (reply === undefined) continue;
    for (const message of [...operation.messages().all(), ...reply.messages().all()]) {
      const location = message.correlationId()?.location();
      if (location !== "$message.payload#/id") {
        fail(file, `${operation.id()}: message ${message.id()} correlation id at ${location}`);
      }
    }
  }
  // The framework's own frames, in every document.
  const ids = new Set(document.allMessages().all().map((m) => m.id()));
  for (const id of ["error", "refresh_required", "refresh"]) {
    if (!ids.has(id)) fail(file, `no \`${id}\` message`);
  }
  // The handshake: the subprotocols, in the channel's WebSocket binding
  // (read from the JSON: the binding's rule that `headers` be an object
  // with properties is prose, which the parser does not check).
  const raw = JSON.parse(text);
  const ws = Object.values(raw.channels ?? {})[0]?.bindings?.ws;
  const header = ws?.headers?.type === "object" ? ws.headers.properties?.["Sec-WebSocket-Protocol"] : undefined;
  const names = header?.examples ?? [];
  if (ws?.method !== "GET") fail(file, `ws binding method ${ws?.method}, expected GET`);
  for (const codec of ["json", "msgpack"]) {
    if (!names.some((n) => typeof n === "string" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n) && n.endsWith(`.${codec}`))) {
      fail(file, `no ${codec} subprotocol among the Sec-WebSocket-Protocol examples ${JSON.stringify(names)}`);
    }
  }
  const replies = operations.filter((o) => o.reply() !== undefined).length;
  const sends = operations.filter((o) => o.action() === "send").length;
  console.log(
    `${file}: valid AsyncAPI ${document.version()}: channel ${channel.address()}, ` +
      `${document.allMessages().length} messages, ${operations.length - sends} receive and ` +
      `${sends} send operations, ${replies} with a reply; subprotocols ${names.filter((n) => !n.includes(",")).join(", ")}`,
  );
}

process.exit(failed ? 1 : 0);
