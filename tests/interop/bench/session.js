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
const { nsPerCall } = require("./timing");

const [topic, joinRef, event, frame, msText] = process.argv.slice(2);
if (!frame || !msText) {
  console.error("usage: node session.js TOPIC JOIN_REF EVENT FRAME MS");
  process.exit(2);
}
const budgetNs = Number(msText) * 1e6;

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

const ns = nsPerCall(() => socket.onConnMessage(message), budgetNs);
process.stdout.write(
  JSON.stringify({ ns_per_frame: ns, seen }) + "\n",
);
