#!/usr/bin/env node
// reference.js: TF.js's own outputs for TF.js models, the oracle for ledge's
// TF.js importer.
//
// Usage: node reference.js CACHE NAME=MODEL_JSON [NAME=MODEL_JSON ...]
//
// For each model it loads MODEL_JSON (graph or layers format) with
// @tensorflow/tfjs on its pure-JS CPU backend through a small file IO
// handler, makes a fixed input (a smooth deterministic pattern plus noise,
// seeded by the model name, in the range the model family expects) and
// writes:
//   CACHE/NAME/input.npy           the input (NHWC, as TF.js takes it)
//   CACHE/NAME/input_name.txt      the model's input name
//   CACHE/NAME/reference/OUT.npy   every output, named as ledge names them
//                                  ("node" or "node:k"; '/' becomes '_')
// A model whose reference folder already exists is skipped.
'use strict';
const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');

function usage() {
  console.error('usage: node reference.js CACHE NAME=MODEL_JSON [NAME=MODEL_JSON ...]');
  process.exit(2);
}

// ---- .npy writing ----
function npyBytes(data, shape) {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4'
              : data instanceof Uint8Array ? '|u1' : null;
  if (!descr) throw new Error('unsupported array type ' + data.constructor.name);
  const shapeStr = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'),
                        Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

// ---- deterministic inputs ----
function mulberry32(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(name) {
  let h = 2166136261;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

// A smooth image-like pattern in [lo, hi] (NHWC when rank 4).
function makeInput(name, shape, dtype, lo, hi) {
  const rnd = mulberry32(seedOf(name));
  const n = shape.reduce((a, b) => a * b, 1);
  const H = shape.length === 4 ? shape[1] : 1, W = shape.length === 4 ? shape[2] : n;
  const C = shape.length === 4 ? shape[3] : 1;
  const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % C, x = Math.floor(i / C) % W, y = Math.floor(i / (C * W)) % H;
    const v = 0.5 + 0.25 * Math.sin(x * 0.11 + c * 1.7) * Math.cos(y * 0.07 + c) + 0.2 * (rnd() - 0.5);
    const t = lo + (hi - lo) * Math.min(1, Math.max(0, v));
    out[i] = dtype === 'int32' ? Math.round(t) : t;
  }
  return out;
}

// ---- loading from files ----
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

function fileName(name) {
  return name.replace(/:0$/, '').replace(/[/\\]/g, '_').replace(/^\./, '_');
}

// Input value range per model family: what the model was trained on.
function inputRange(name) {
  if (/movenet/.test(name)) return [0, 255];
  if (/nsfw/.test(name)) return [0, 1];
  if (/blazeface|facemesh|iris|handdetect|blazepose/.test(name)) return [-1, 1];
  return [0, 1];
}

async function runOne(cache, name, jsonPath) {
  const dir = path.join(cache, name);
  const refDir = path.join(dir, 'reference');
  if (fs.existsSync(refDir)) return;
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const isLayers = !(json.modelTopology && json.modelTopology.node);
  const model = isLayers ? await tf.loadLayersModel(fileHandler(jsonPath))
                         : await tf.loadGraphModel(fileHandler(jsonPath));
  const inp = model.inputs[0];
  // Models whose input size is free get the size they are used at.
  const fixed = { 'movenet-multipose': [1, 256, 256, 3] };
  const shape = fixed[name] || inp.shape.map((d) => (d == null || d < 0 ? 1 : d));
  const dtype = inp.dtype === 'int32' ? 'int32' : 'float32';
  const [lo, hi] = inputRange(name);
  const data = makeInput(name, shape, dtype, lo, hi);
  const x = tf.tensor(data, shape, dtype);
  let outs, names;
  const t0 = Date.now();
  if (isLayers) {
    outs = model.predict(x);
    names = model.outputNames;
  } else {
    names = model.outputNodes;
    outs = await model.executeAsync(x, names);
  }
  if (!Array.isArray(outs)) outs = [outs];
  const ms = Date.now() - t0;
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const tmp = path.join(dir, 'tmp');
  fs.writeFileSync(path.join(dir, 'input.npy'), npyBytes(data, shape));
  fs.writeFileSync(path.join(dir, 'input_name.txt'), (isLayers ? model.inputNames[0] : inp.name.replace(/:0$/, '')) + '\n');
  for (let i = 0; i < outs.length; i++) {
    const t = outs[i];
    let d = t.dataSync();
    if (t.dtype === 'bool') d = Uint8Array.from(d);
    fs.writeFileSync(path.join(tmp, fileName(names[i]) + '.npy'), npyBytes(d, t.shape));
  }
  fs.renameSync(tmp, refDir);
  console.log(`reference.js: ${name}: ${outs.length} outputs (${names.join(', ')}), TF.js cpu ${ms} ms`);
  tf.dispose(outs);
  x.dispose();
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) usage();
  await tf.setBackend('cpu');
  const cache = args[0];
  for (const spec of args.slice(1)) {
    const eq = spec.indexOf('=');
    if (eq < 0) usage();
    await runOne(cache, spec.slice(0, eq), spec.slice(eq + 1));
  }
}

main().catch((e) => {
  console.error('reference.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
