// phoenix.js (the official client, npm `phoenix`, with `ws` as its WebSocket) against a
// fawkes endpoint. Spawned by the `endpoint_interop` Rust test, which starts the endpoint
// with the hooks these scenarios expect and passes its URL as the first argument:
//
// - connect refused when the `token` param is "bad";
// - joins of "room:refused" refused with {reason: "nope"}, others accepted with
//   {joined: topic};
// - event "ping" answered ok with {pong: payload}; event "broadcast_me" makes the endpoint
//   broadcast "json_msg" {n: 1} and "bin_msg" (bytes 1, 2, 3) on the topic;
// - idle timeout 1,500 ms.
//
// Prints "ok <scenario>" for each, then the closing "N passed, N failed" line; exits 1 on
// any failure.

"use strict";

const { Socket } = require("phoenix");
const WebSocket = require("ws");

const endpoint = process.argv[2];
if (!endpoint) {
  console.error("usage: node interop.js ws://127.0.0.1:PORT/socket");
  process.exit(2);
}

function socket(opts = {}) {
  return new Socket(endpoint, {
    transport: WebSocket,
    reconnectAfterMs: () => 60000,
    ...opts,
  });
}

function withTimeout(name, ms, body) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: timed out after ${ms} ms`)), ms);
    body(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(`${name}: ${JSON.stringify(e)}`));
      },
    );
  });
}

function connected(s) {
  return withTimeout("connect", 5000, (resolve, reject) => {
    s.onOpen(resolve);
    s.onError((e) => reject(new Error(`socket error: ${e && e.message}`)));
    s.connect();
  });
}

function join(channel) {
  return withTimeout(`join ${channel.topic}`, 5000, (resolve, reject) => {
    channel
      .join()
      .receive("ok", resolve)
      .receive("error", (r) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
      .receive("timeout", () => reject(new Error("join timeout")));
  });
}

const scenarios = {
  async "connect and join ok"() {
    const s = socket();
    await connected(s);
    const reply = await join(s.channel("room:lobby", { hello: "world" }));
    assert(reply.joined === "room:lobby", `join response ${JSON.stringify(reply)}`);
    s.disconnect();
  },

  async "join refused"() {
    const s = socket();
    await connected(s);
    const ch = s.channel("room:refused");
    const reason = await withTimeout("refused join", 5000, (resolve, reject) => {
      ch.join()
        .receive("ok", () => reject(new Error("join accepted")))
        .receive("error", resolve);
    });
    assert(reason.reason === "nope", `refusal ${JSON.stringify(reason)}`);
    ch.leave();
    s.disconnect();
  },

  async "JSON and binary broadcasts received"() {
    const s = socket();
    await connected(s);
    const ch = s.channel("room:broadcast");
    await join(ch);
    const got = withTimeout("broadcasts", 5000, (resolve) => {
      const seen = {};
      const check = () => seen.json && seen.bin && resolve(seen);
      ch.on("json_msg", (p) => {
        seen.json = p;
        check();
      });
      ch.on("bin_msg", (p) => {
        seen.bin = p;
        check();
      });
    });
    ch.push("broadcast_me", {});
    const seen = await got;
    assert(seen.json.n === 1, `JSON broadcast ${JSON.stringify(seen.json)}`);
    assert(seen.bin instanceof ArrayBuffer, `binary broadcast is ${typeof seen.bin}`);
    const bytes = Array.from(new Uint8Array(seen.bin));
    assert(bytes.join(",") === "1,2,3", `binary bytes ${bytes}`);
    s.disconnect();
  },

  async "heartbeats keep the connection open past the idle timeout"() {
    const s = socket({ heartbeatIntervalMs: 300 });
    await connected(s);
    let closed = null;
    s.onClose((e) => {
      closed = e;
    });
    await new Promise((r) => setTimeout(r, 4000));
    assert(closed === null, `closed with ${closed && closed.code}`);
    assert(s.isConnected(), "not connected after 4 s");
    s.disconnect();
  },

  async "leave fires onClose"() {
    const s = socket();
    await connected(s);
    const ch = s.channel("room:leave");
    await join(ch);
    const closed = withTimeout("onClose", 5000, (resolve) => ch.onClose(resolve));
    const left = withTimeout("leave reply", 5000, (resolve, reject) => {
      ch.leave().receive("ok", resolve).receive("timeout", reject);
    });
    await left;
    await closed;
    s.disconnect();
  },

  async "V1 client works"() {
    // phoenix.js keeps its V2 serializer whatever `vsn` says: a V1 client brings the V1
    // object format as its encode/decode (as phoenix.js before 1.3 spoke it).
    const s = socket({
      vsn: "1.0.0",
      encode: (msg, callback) =>
        callback(
          JSON.stringify({
            join_ref: msg.join_ref,
            ref: msg.ref,
            topic: msg.topic,
            event: msg.event,
            payload: msg.payload,
          }),
        ),
      decode: (raw, callback) => callback(JSON.parse(raw)),
    });
    await connected(s);
    const ch = s.channel("room:v1");
    await join(ch);
    const got = withTimeout("V1 broadcast", 5000, (resolve) => ch.on("json_msg", resolve));
    const reply = await withTimeout("V1 push", 5000, (resolve, reject) => {
      ch.push("ping", { v: 1 }).receive("ok", resolve).receive("error", reject);
    });
    assert(reply.pong.v === 1, `V1 reply ${JSON.stringify(reply)}`);
    ch.push("broadcast_me", {});
    const msg = await got;
    assert(msg.n === 1, `V1 broadcast ${JSON.stringify(msg)}`);
    s.disconnect();
  },

  async "refused connect does not open"() {
    const s = socket({ params: { token: "bad" } });
    let opened = false;
    s.onOpen(() => {
      opened = true;
    });
    await withTimeout("connect error", 5000, (resolve) => {
      s.onError(resolve);
      s.connect();
    });
    s.disconnect();
    assert(!opened, "the refused socket opened");
  },

  async "push answered by the event hook resolves ok"() {
    const s = socket();
    await connected(s);
    const ch = s.channel("room:push");
    await join(ch);
    const reply = await withTimeout("push reply", 5000, (resolve, reject) => {
      ch.push("ping", { hello: "there" })
        .receive("ok", resolve)
        .receive("error", (r) => reject(new Error(`error reply ${JSON.stringify(r)}`)))
        .receive("timeout", () => reject(new Error("push timeout")));
    });
    assert(reply.pong.hello === "there", `reply ${JSON.stringify(reply)}`);
    const unhandled = await withTimeout("unhandled push", 5000, (resolve, reject) => {
      ch.push("what", {}).receive("error", resolve).receive("ok", reject);
    });
    assert(unhandled.reason === "event not handled", JSON.stringify(unhandled));
    s.disconnect();
  },
};

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

(async () => {
  let passed = 0;
  let failed = 0;
  for (const [name, run] of Object.entries(scenarios)) {
    try {
      await run();
      console.log(`ok ${name}`);
      passed += 1;
    } catch (e) {
      console.log(`FAILED ${name}: ${e.message}`);
      failed += 1;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
