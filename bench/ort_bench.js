#!/usr/bin/env node
// ort_bench.js: the peer's side of bench/run.sh. Times ONNX Runtime (npm
// onnxruntime-node, CPU) on one model with a random float input and prints
// one JSON line: {"median_ms", "min_ms", "load_ms", "threads", "runs"}.
// Usage: node bench/ort_bench.js MODEL --threads N --runs K
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const args = process.argv.slice(2);
  const model = args[0];
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const threads = opt('--threads', 2), runs = opt('--runs', 20);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1, 3, 224, 224];
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (s / 4294967296) * 2 - 1; }
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  await session.run(feeds);
  await session.run(feeds);
  const times = [];
  for (let r = 0; r < runs; r++) {
    const s = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
  console.log(JSON.stringify({median_ms: median, min_ms: times[0], load_ms: loadMs, threads, runs}));
}
main().catch((e) => { console.error('ort_bench.js: ' + e.message); process.exit(1); });
