// Timing for the phoenix.js sides of the benches: the median nanoseconds per call of `f`
// over BATCHES batches that together fill `budgetNs` (the batch size calibrated first,
// which also warms the JIT up).

"use strict";

const BATCHES = 15;

function nsPerCall(f, budgetNs) {
  let iters = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) f();
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
    for (let i = 0; i < iters; i++) f();
    samples.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

module.exports = { nsPerCall };
