// The phoenix.js side of the codec bench (`cargo xtask bench codec`): times the official
// serializer (`Serializer.decode` / `Serializer.encode` of npm `phoenix`) on the frames the
// Rust bench hands over, and prints one JSON line of nanoseconds per call.
//
// usage: node codec.js FRAMES.json MS_PER_FUNCTION
// FRAMES.json: [{"name", "text" | "binary_hex", "decode": bool, "encode": bool}]
// Encoding takes the message as decoded from the frame (the payload a parsed object, like
// the Rust peers' pre-parsed `Value`) and must give the frame back byte for byte.

"use strict";

const fs = require("fs");
const { Serializer } = require("phoenix");
const { nsPerCall } = require("./timing");

const [framesPath, msText] = process.argv.slice(2);
if (!framesPath || !msText) {
  console.error("usage: node codec.js FRAMES.json MS_PER_FUNCTION");
  process.exit(2);
}
const frames = JSON.parse(fs.readFileSync(framesPath, "utf8"));
const budgetNs = Number(msText) * 1e6;
let sink = 0;

function arrayBuffer(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
  }
  return bytes.buffer;
}

const out = {};
for (const frame of frames) {
  const raw = frame.text !== undefined ? frame.text : arrayBuffer(frame.binary_hex);
  const result = {};
  if (frame.decode) {
    const decode = () =>
      Serializer.decode(raw, (msg) => {
        sink += msg.topic.length + msg.event.length;
      });
    result.decode_ns = nsPerCall(decode, budgetNs);
  }
  if (frame.encode && frame.text !== undefined) {
    let msg;
    Serializer.decode(frame.text, (m) => (msg = m));
    Serializer.encode(msg, (encoded) => {
      if (encoded !== frame.text) {
        console.error(`codec.js: ${frame.name}: encode does not give the frame back`);
        process.exit(1);
      }
    });
    const encode = () =>
      Serializer.encode(msg, (encoded) => {
        sink += encoded.length;
      });
    result.encode_ns = nsPerCall(encode, budgetNs);
  }
  out[frame.name] = result;
}
process.stdout.write(JSON.stringify({ sink: sink > 0, results: out }) + "\n");
