// Two phoenix.js clients of one topic, each with phoenix.js's own `Presence` (npm `phoenix`
// with `ws`). Client "a" joins at once; client "b" joins when the line "join b" arrives on
// stdin. Every callback prints one JSON line:
//   {"client":"a","joined":true}                     the channel joined
//   {"client":"a","join":KEY} / {"client":"a","leave":KEY}   onJoin / onLeave
//   {"client":"a","sync":LIST}                       onSync, LIST = presence.list() sorted by key
// Spawned by the `repeater_presence` Rust test; exits 0 on "quit", 1 after 30 s.
//
// usage: node presence.js ws://127.0.0.1:PORT/socket TOPIC

"use strict";

const { Socket, Presence } = require("phoenix");
const WebSocket = require("ws");
const readline = require("readline");

const [url, topic] = process.argv.slice(2);
if (!url || !topic) {
  console.error("usage: node presence.js URL TOPIC");
  process.exit(2);
}
setTimeout(() => {
  console.error("presence: timed out");
  process.exit(1);
}, 30000);

const print = (line) => console.log(JSON.stringify(line));
const sockets = [];

function start(name) {
  const socket = new Socket(url, { transport: WebSocket });
  socket.connect();
  sockets.push(socket);
  const channel = socket.channel(topic, {});
  const presence = new Presence(channel);
  presence.onJoin((key) => print({ client: name, join: key }));
  presence.onLeave((key) => print({ client: name, leave: key }));
  presence.onSync(() => {
    const list = presence
      .list((key, { metas }) => ({ key, metas }))
      .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    print({ client: name, sync: list });
  });
  channel
    .join()
    .receive("ok", () => print({ client: name, joined: true }))
    .receive("error", (e) => {
      console.error("join refused", JSON.stringify(e));
      process.exit(1);
    });
}

start("a");
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "join b") {
    start("b");
  } else if (line === "quit") {
    sockets.forEach((s) => s.disconnect());
    process.exit(0);
  }
});
