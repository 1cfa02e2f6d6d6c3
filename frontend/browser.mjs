// The chat example's page in real headless Chromium: two pages join one
// room and each sees what the other says; a screenshot is written.
//
//   node frontend/browser.mjs http://127.0.0.1:PORT/ target/browser/chat.png [CHAT_BINARY]
//
// With the chat example's binary, the page's reconnecting is run too, on a
// chat server this script starts: one page reaches it through a TCP proxy
// that drops its connection (no close frame) while the other speaks, and
// then the server is restarted (SIGTERM: close 1012). The page shows
// "reconnecting…", then every line once, in order.
//
// Chromium offers permessage-deflate; the chat example negotiates it (its
// default `compression = "deflate"`): the handshake's answer is checked
// through the DevTools protocol, and a long message (over
// `compress_min_size`) crosses compressed both ways.
//
// An uncaught exception or unhandled rejection in a page fails the run.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), driven by
// playwright-core; each run gets fresh, empty profiles.

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot, binary] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node browser.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const WAIT = 15_000;
/** Uncaught errors of every page: any one fails the run. */
const pageErrors = [];
/** The `Sec-WebSocket-Extensions` each WebSocket handshake was answered with. */
const agreed = [];

/** Waits until the server answers HTTP (it may still be starting). */
async function reachable(deadline, url = process.argv[2]) {
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resolves once the page's log shows `text`. */
function sees(page, text) {
  return page.waitForFunction(
    (text) => document.getElementById("log").innerText.includes(text),
    text,
    { timeout: WAIT },
  );
}

async function join(browser, user, room, url = process.argv[2]) {
  // A context per user: separate, empty storage, as two people would have.
  const context = await browser.newContext({
    viewport: { width: 900, height: 640 },
    ignoreHTTPSErrors: true,
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketHandshakeResponseReceived", ({ response }) => {
    const name = Object.keys(response.headers).find((h) => h.toLowerCase() === "sec-websocket-extensions");
    agreed.push(name ? response.headers[name] : "");
  });
  page.on("console", (message) => console.log(`[${user}] ${message.text()}`));
  page.on("pageerror", (error) => {
    console.error(`[${user}] page error: ${error.stack ?? error.message}`);
    pageErrors.push(`[${user}] ${error.message}`);
  });
  await page.goto(url);
  await page.fill("#connect input[name=user]", user);
  await page.fill("#connect input[name=room]", room);
  await page.click("#connect button");
  await page.waitForSelector("#say input[name=text]:not([disabled])", { timeout: WAIT });
  return page;
}

async function say(page, text) {
  await page.fill("#say input[name=text]", text);
  await page.press("#say input[name=text]", "Enter");
}

await reachable(Date.now() + 60_000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // The TLS pass serves a certificate made for the run, which no
    // authority signed.
    "--ignore-certificate-errors",
  ],
});
try {
  console.log(`chromium ${browser.version()}`);
  const ann = await join(browser, "ann", "lobby");
  // Everyone in the room gets a `said`, the speaker included: seeing one's
  // own message means the server has handled one's join.
  await say(ann, "ann is here");
  await sees(ann, "ann: ann is here");
  const bob = await join(browser, "bob", "lobby");
  await say(bob, "bob is here");
  await sees(bob, "bob: bob is here");
  await sees(ann, "bob: bob is here");

  await say(ann, "hello bob");
  await say(bob, "hello ann");
  await sees(bob, "ann: hello bob");
  await sees(ann, "bob: hello ann");

  // Compressed both ways: Chromium compresses what it sends, the server
  // what is over `compress_min_size` (256 B).
  const long = Array.from({ length: 60 }, (_, i) => `word${i % 7}`).join(" ") + " end";
  await say(ann, long);
  await sees(bob, `ann: ${long}`);
  const expected = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  if (agreed.length < 2 || agreed.some((value) => value !== expected)) {
    throw new Error(`permessage-deflate not negotiated: ${JSON.stringify(agreed)}`);
  }
  console.log(`permessage-deflate negotiated by ${agreed.length} connections; a ${long.length}-character message crossed compressed`);

  if (pageErrors.length > 0) {
    throw new Error(`${pageErrors.length} page error(s): ${pageErrors.join("; ")}`);
  }
  await mkdir(dirname(screenshot), { recursive: true });
  await ann.screenshot({ path: screenshot, fullPage: true });
  await bob.screenshot({ path: screenshot.replace(/\.png$/, "-bob.png"), fullPage: true });
  console.log(`two pages exchanged messages in one room; wrote ${screenshot}`);
  if (binary) await reconnecting(browser);
} finally {
  await browser.close();
}

/** The lines of `said` in a page's log, in order. */
function said(page) {
  return page.evaluate(() => [...document.querySelectorAll("#log .said")].map((p) => p.innerText));
}

async function reconnecting(browser) {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  let server;
  const start = async () => {
    server = spawn(binary, ["--addr", `127.0.0.1:${port}`], { stdio: "ignore" });
    await reachable(Date.now() + 60_000, `http://127.0.0.1:${port}/`);
  };
  // One upstream connection per page connection; `cut` drops them all.
  const live = new Set();
  const proxy = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
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
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    await start();
    const ann = await join(browser, "ann", "resume", `http://127.0.0.1:${proxy.address().port}/`);
    const bob = await join(browser, "bob", "resume", `http://127.0.0.1:${port}/`);
    await say(bob, "b1");
    await sees(ann, "bob: b1");
    for (const socket of live) socket.destroy();
    // Said while ann's page is away or rejoining: the replay brings them.
    for (const text of ["b2", "b3", "b4", "b5"]) await say(bob, text);
    await sees(ann, "reconnecting… (1006)");
    await sees(ann, "bob: b5");
    await sees(ann, "rejoined resume");
    const lines = await said(ann);
    const expected = ["b1", "b2", "b3", "b4", "b5"].map((text) => `bob: ${text}`);
    if (JSON.stringify(lines) !== JSON.stringify(expected)) {
      throw new Error(`after the drop ann's page shows ${JSON.stringify(lines)}, expected ${JSON.stringify(expected)}`);
    }
    console.log("a page resumed after its connection dropped: every line once, in order");

    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    if ((await exited) !== 0) throw new Error("the chat server did not exit 0 on SIGTERM");
    await sees(ann, "reconnecting… (1012)");
    await sees(bob, "reconnecting… (1012)");
    await start();
    // A new process has a new history: the page says what may be lost.
    await sees(ann, "epoch_changed");
    await say(bob, "after the restart");
    await sees(ann, "bob: after the restart");
    await say(ann, "ann is back");
    await sees(bob, "ann: ann is back");
    if (pageErrors.length > 0) {
      throw new Error(`${pageErrors.length} page error(s): ${pageErrors.join("; ")}`);
    }
    await ann.screenshot({ path: screenshot.replace(/\.png$/, "-reconnect.png"), fullPage: true });
    console.log("the pages reconnected after a restart of the chat server (1012) and went on");
  } finally {
    server?.kill("SIGTERM");
    proxy.close();
  }
}
