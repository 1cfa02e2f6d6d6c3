// The chat example's page in real headless Chromium: two pages join one
// room and each sees what the other says; a screenshot is written.
//
//   node frontend/browser.mjs http://127.0.0.1:PORT/ target/browser/chat.png
//
// An uncaught exception or unhandled rejection in a page fails the run.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), driven by
// playwright-core; each run gets fresh, empty profiles.

import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node browser.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const WAIT = 15_000;
/** Uncaught errors of every page: any one fails the run. */
const pageErrors = [];

/** Waits until the server answers HTTP (it may still be starting). */
async function reachable(deadline) {
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

async function join(browser, user, room) {
  // A context per user: separate, empty storage, as two people would have.
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
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

  if (pageErrors.length > 0) {
    throw new Error(`${pageErrors.length} page error(s): ${pageErrors.join("; ")}`);
  }
  await mkdir(dirname(screenshot), { recursive: true });
  await ann.screenshot({ path: screenshot, fullPage: true });
  await bob.screenshot({ path: screenshot.replace(/\.png$/, "-bob.png"), fullPage: true });
  console.log(`two pages exchanged messages in one room; wrote ${screenshot}`);
} finally {
  await browser.close();
}
