// Compiled with rpc.ts, the TypeScript of ws-core's request/reply test
// protocol (ws-core/tests/support/rpc.rs), by `tsc --strict`
// (frontend/check.sh): `request` resolves with the reply each request
// declares.

import { RequestTimeout, RpcClient, ServerError, type Pong, type Sum } from "./rpc";

export async function rpc(client: RpcClient): Promise<number> {
  const pong: Pong = await client.request({ type: "ping", n: 1 });
  const sum: Sum = await client.request({ type: "add", a: 1, b: 2 }, 500);
  const echoed: string = (await client.request({ type: "echo", text: "e" })).text;
  // A request may carry its own id in the type, but `request` sets it.
  const id: number | string | undefined = pong.id;

  // @ts-expect-error the reply to `add` is a `Sum`, not a `Pong`
  const wrong: Pong = await client.request({ type: "add", a: 1, b: 2 });
  // @ts-expect-error `note` declares no reply
  await client.request({ type: "note", text: "t" });
  // @ts-expect-error `n` is a number
  await client.request({ type: "ping", n: "1" });
  // @ts-expect-error `pong` is a server message
  await client.request({ type: "pong", n: 1 });

  // A request of the server is answered with its declared answer.
  const stopAnswering: () => void = client.onRequest("give", (request) => ({ type: "given", n: request.hint }));
  client.onRequest("give", async () => ({ type: "given", n: 1 }));
  // @ts-expect-error the answer to `give` is a `Given`, whose `n` is a number
  client.onRequest("give", () => ({ type: "given", n: "1" }));
  // @ts-expect-error `pong` is not a request of the server
  client.onRequest("pong", () => ({ type: "given", n: 1 }));
  stopAnswering();

  try {
    await client.request({ type: "refuse", how: "reply" });
  } catch (error) {
    if (error instanceof ServerError) console.log(error.frame.code, error.frame.id);
    if (error instanceof RequestTimeout) console.log(error.timeoutMs, error.request.type);
  }
  console.log(wrong, echoed, id);
  return pong.n + sum.value;
}
