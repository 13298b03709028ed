// The phoenix.js side of the session bench (`cargo xtask bench session`): one frame
// through the whole inbound path of the official client without a socket:
// `Socket.onConnMessage` (decode, heartbeat check, the channel scan and `isMember`), then
// `Channel.trigger` and the `on` callback of a joined channel. Prints one JSON line of
// nanoseconds per frame (median of batches filling MS milliseconds).
//
// usage: node session.js TOPIC JOIN_REF EVENT FRAME MS

"use strict";

const { Socket } = require("phoenix");
const WebSocket = require("ws");

const [topic, joinRef, event, frame, msText] = process.argv.slice(2);
if (!frame || !msText) {
  console.error("usage: node session.js TOPIC JOIN_REF EVENT FRAME MS");
  process.exit(2);
}
const budgetNs = Number(msText) * 1e6;
const BATCHES = 15;

// A socket that is never connected, and a channel marked joined under JOIN_REF, as
// phoenix.js leaves it after its join reply.
const socket = new Socket("ws://127.0.0.1:9/socket", { transport: WebSocket });
const channel = socket.channel(topic, {});
channel.state = "joined";
channel.joinPush.ref = joinRef;
let seen = 0;
channel.on(event, (payload) => {
  seen += payload ? 1 : 0;
});
const message = { data: frame };
socket.onConnMessage(message);
if (seen !== 1) {
  console.error("session.js: the frame did not reach the channel's callback");
  process.exit(1);
}

let iters = 1;
for (;;) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) socket.onConnMessage(message);
  const ns = Number(process.hrtime.bigint() - t0);
  if (ns > budgetNs / BATCHES / 4 || iters > 1 << 30) {
    iters = Math.max(1, Math.round((iters * budgetNs) / BATCHES / Math.max(ns, 1)));
    break;
  }
  iters *= 2;
}
const samples = [];
for (let b = 0; b < BATCHES; b++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) socket.onConnMessage(message);
  samples.push(Number(process.hrtime.bigint() - t0) / iters);
}
samples.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({ ns_per_frame: samples[Math.floor(samples.length / 2)], seen }) + "\n",
);
