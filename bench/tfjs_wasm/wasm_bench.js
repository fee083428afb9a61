#!/usr/bin/env node
// wasm_bench.js: TF.js's WebAssembly backend (npm @tensorflow/tfjs-backend-wasm,
// XNNPACK, SIMD) running one TF.js model in Node, the engine people run these
// models with today. One thread: Node has no cross-origin isolation, so the
// backend runs its SIMD build single-threaded (setThreadsCount(1) says so).
//
//   node wasm_bench.js MODEL_JSON --serve
//       the protocol of bench/ledge_driver.c: prints {"ready": true,
//       "startup_ms", "backend", "simd", "threads"}; then on stdin "run K"
//       -> {"times_ms": [...]} (K runs back to back, each ending when the
//       output data is read back), "quit" (or EOF) -> {"peak_rss_kb"}.
//   node wasm_bench.js MODEL_JSON --runs K
//       one shot: prints {"median_ms", "min_ms", ...}
//
// The input is a fixed pattern in the model's value range (as the tests'
// reference.js makes them); timings do not depend on the values.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

function fileHandler(jsonPath) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      const dir = path.dirname(jsonPath);
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest || []) {
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
        modelInitializer: json.modelInitializer,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

function makeInput(shape, dtype, lo, hi) {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = 0.5 + 0.4 * Math.sin(i * 0.013) * Math.cos(i * 0.0007);
    out[i] = dtype === 'int32' ? Math.round(lo + (hi - lo) * v) : lo + (hi - lo) * v;
  }
  return out;
}

function inputRange(name) {
  if (/movenet|centernet/.test(name)) return [0, 255];
  if (/blazeface|facemesh|iris|handdetect/.test(name)) return [-1, 1];
  return [0, 1];
}

async function main() {
  const args = process.argv.slice(2);
  const modelPath = args[0];
  if (!modelPath) {
    console.error('usage: node wasm_bench.js MODEL_JSON (--serve | --runs K)');
    process.exit(2);
  }
  const runsArg = args.indexOf('--runs');
  const t0 = performance.now();
  wasm.setThreadsCount(1);
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
  await tf.setBackend('wasm');
  await tf.ready();
  const json = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const isLayers = !(json.modelTopology && json.modelTopology.node);
  const model = isLayers ? await tf.loadLayersModel(fileHandler(modelPath))
                         : await tf.loadGraphModel(fileHandler(modelPath));
  const inp = model.inputs[0];
  const shape = inp.shape.map((d) => (d == null || d < 0 ? 1 : d));
  const dtype = inp.dtype === 'int32' ? 'int32' : 'float32';
  const [lo, hi] = inputRange(path.basename(modelPath));
  const x = tf.tensor(makeInput(shape, dtype, lo, hi), shape, dtype);
  // execute() where the graph allows it (no control flow): executeAsync
  // costs extra per run.
  let sync = true;
  try {
    tf.dispose(isLayers ? model.predict(x) : model.execute(x));
  } catch (e) {
    sync = false;
  }
  const runOnce = async () => {
    const s = performance.now();
    let outs = isLayers ? model.predict(x) : sync ? model.execute(x) : await model.executeAsync(x);
    if (!Array.isArray(outs)) outs = [outs];
    for (const o of outs) await o.data();
    tf.dispose(outs);
    return performance.now() - s;
  };
  await runOnce(); // the first run compiles and allocates
  const startup = performance.now() - t0;
  const info = { backend: tf.getBackend(), simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
                 threads: wasm.getThreadsCount ? wasm.getThreadsCount() : 1 };
  if (runsArg >= 0) {
    const k = Number(args[runsArg + 1]) || 20;
    const times = [];
    for (let i = 0; i < k; i++) times.push(await runOnce());
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ median_ms: times[Math.floor(k / 2)], min_ms: times[0], startup_ms: startup, ...info }));
    return;
  }
  console.log(JSON.stringify({ ready: true, startup_ms: startup, ...info }));
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const m = /^run (\d+)$/.exec(line.trim());
    if (m) {
      const times = [];
      for (let i = 0; i < Number(m[1]); i++) times.push(await runOnce());
      console.log(JSON.stringify({ times_ms: times }));
    } else if (line.trim() === 'quit') {
      break;
    } else {
      console.log(JSON.stringify({ error: 'unknown command ' + line.trim() }));
    }
  }
  rl.close();
  console.log(JSON.stringify({ peak_rss_kb: process.resourceUsage().maxRSS }));
  process.exit(0); // the backend keeps Node alive otherwise
}

main().catch((e) => {
  console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  process.exit(1);
});
