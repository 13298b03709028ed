// A phoenix.js subscriber (npm `phoenix` with `ws`): joins TOPIC on the socket at URL,
// prints "joined", then one JSON line per message ({event, payload} for JSON payloads,
// {event, binary: [bytes]} for ArrayBuffers) until COUNT messages arrived, then exits 0.
// Spawned by the `repeater` Rust test; exits 1 if nothing arrives within 20 s.
//
// usage: node subscriber.js ws://127.0.0.1:PORT/socket TOPIC COUNT

"use strict";

const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [url, topic, countText] = process.argv.slice(2);
if (!url || !topic || !countText) {
  console.error("usage: node subscriber.js URL TOPIC COUNT");
  process.exit(2);
}
const count = Number(countText);
setTimeout(() => {
  console.error("subscriber: timed out");
  process.exit(1);
}, 20000);

const socket = new Socket(url, { transport: WebSocket });
socket.connect();
const channel = socket.channel(topic, {});
let seen = 0;
channel.onMessage = (event, payload) => {
  if (event.startsWith("phx_") || event.startsWith("chan_reply_")) {
    return payload;
  }
  if (payload instanceof ArrayBuffer) {
    console.log(JSON.stringify({ event, binary: Array.from(new Uint8Array(payload)) }));
  } else {
    console.log(JSON.stringify({ event, payload }));
  }
  seen += 1;
  if (seen >= count) {
    socket.disconnect(() => process.exit(0));
  }
  return payload;
};
channel
  .join()
  .receive("ok", () => console.log("joined"))
  .receive("error", (e) => {
    console.error("join refused", JSON.stringify(e));
    process.exit(1);
  });
