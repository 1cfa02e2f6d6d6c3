// What the runners share: assertions that name what failed, bounded waits,
// and a watchdog, so a lost message fails the run instead of hanging it.
// Node's own modules are left out so that `tsc` needs no @types/node.

declare const process: { argv: string[]; exitCode?: number; exit(code: number): never };

/** The command line's first argument: the server's WebSocket URL. */
export function urlArgument(): string {
  const url = process.argv[2];
  if (url === undefined) {
    console.error("usage: node RUNNER.js ws://HOST:PORT/PATH");
    process.exit(2);
  }
  return url;
}

export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`failed: ${what}`);
}

export function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`failed: ${what}: got ${a}, expected ${e}`);
}

/** Resolves once `condition` holds; fails after `ms`, naming `what`. */
export async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The rejection of `promise`; fails if it resolves, naming `what`. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`failed: ${what} resolved with ${JSON.stringify(value)}`);
}

/** Runs `steps`, prints each step's name, exits 1 on the first failure or after `ms`. */
export async function run(name: string, steps: [string, () => Promise<void>][], ms = 60_000): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`${name}: did not finish within ${ms} ms`);
    process.exit(1);
  }, ms);
  for (const [step, body] of steps) {
    try {
      await body();
      console.log(`${name}: ${step}: ok`);
    } catch (error) {
      console.error(`${name}: ${step}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      process.exit(1);
    }
  }
  clearTimeout(watchdog);
  console.log(`${name}: all ${steps.length} steps passed`);
  // Sockets a step left open must not keep the process alive.
  process.exit(0);
}
