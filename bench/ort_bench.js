#!/usr/bin/env node
// ort_bench.js: ONNX Runtime's side of the benchmark (npm onnxruntime-node,
// CPU execution provider, all graph optimizations, intra-op threads = N,
// sequential execution), with a random float input.
//
//   node bench/ort_bench.js MODEL --threads N --runs K
//       one shot: prints {"median_ms", "min_ms", "load_ms", "threads", "runs", "peak_rss_kb"}
//   node bench/ort_bench.js MODEL --threads N --serve
//       the protocol of bench/ledge_driver.c, so that bench/bench.py can
//       interleave the two runtimes run by run: prints {"ready": true,
//       "startup_ms", ...}; then on stdin "run K" -> {"times_ms": [...]},
//       "quit" (or EOF) -> {"peak_rss_kb"}.
'use strict';
const ort = require('onnxruntime-node');
const readline = require('readline');

function peakRssKb() {
  return process.resourceUsage().maxRSS; // kilobytes
}

async function main() {
  const args = process.argv.slice(2);
  const model = args[0];
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const threads = opt('--threads', 1), runs = opt('--runs', 20);
  const serve = args.includes('--serve');
  const rssBefore = peakRssKb();
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const dims = meta && meta.shape ?
        meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1, 3, 224, 224];
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      data[i] = (s / 4294967296) * 2 - 1;
    }
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  const runOnce = async () => {
    const s = process.hrtime.bigint();
    await session.run(feeds);
    return Number(process.hrtime.bigint() - s) / 1e6;
  };
  await runOnce();
  await runOnce();
  if (!serve) {
    const times = [];
    for (let r = 0; r < runs; r++) times.push(await runOnce());
    times.sort((a, b) => a - b);
    const median = runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    console.log(JSON.stringify({median_ms: median, min_ms: times[0], load_ms: startupMs, threads, runs,
                                peak_rss_kb: peakRssKb()}));
    return;
  }
  console.log(JSON.stringify({ready: true, startup_ms: startupMs, threads, version: ort.env.versions ?
      ort.env.versions.common : require('onnxruntime-node/package.json').version,
                              node_rss_before_load_kb: rssBefore}));
  const rl = readline.createInterface({input: process.stdin});
  for await (const line of rl) {
    const m = /^run (\d+)/.exec(line);
    if (m) {
      const times = [];
      for (let r = 0; r < Number(m[1]); r++) times.push(await runOnce());
      console.log(JSON.stringify({times_ms: times}));
    } else if (line.startsWith('quit')) {
      break;
    } else {
      console.log(JSON.stringify({error: 'unknown command'}));
    }
  }
  console.log(JSON.stringify({peak_rss_kb: peakRssKb()}));
  process.exit(0);
}
main().catch((e) => {
  console.log(JSON.stringify({error: 'ort_bench.js: ' + e.message}));
  process.exit(1);
});
