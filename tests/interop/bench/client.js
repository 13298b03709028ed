// The phoenix.js side of the client bench (`cargo xtask bench client`): joins TOPIC on the
// socket at URL, pushes `go` (the flood server starts on it), counts COUNT messages of event
// `b`, then prints one JSON line: the messages and the seconds from the first to the last.
//
// usage: node client.js ws://127.0.0.1:PORT/socket TOPIC COUNT

"use strict";

const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [url, topic, countText] = process.argv.slice(2);
if (!url || !topic || !countText) {
  console.error("usage: node client.js URL TOPIC COUNT");
  process.exit(2);
}
const count = Number(countText);
setTimeout(() => {
  console.error("client.js: the flood did not arrive within 120 s");
  process.exit(1);
}, 120000).unref();

const socket = new Socket(url, { transport: WebSocket });
socket.connect();
const channel = socket.channel(topic, {});
let seen = 0;
let first = 0n;
channel.on("b", () => {
  seen += 1;
  if (seen === 1) {
    first = process.hrtime.bigint();
  }
  if (seen === count) {
    const seconds = Number(process.hrtime.bigint() - first) / 1e9;
    process.stdout.write(JSON.stringify({ messages: count, seconds }) + "\n", () =>
      process.exit(0),
    );
  }
});
channel
  .join()
  .receive("ok", () => channel.push("go", {}))
  .receive("error", (reason) => {
    console.error("client.js: join refused", reason);
    process.exit(1);
  });
