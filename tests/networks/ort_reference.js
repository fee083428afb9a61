#!/usr/bin/env node
// ort_reference.js: runs each exported network with ONNX Runtime (the npm
// package onnxruntime-node, CPU execution provider, default graph
// optimizations) on its fixed input and writes every output as .npy:
//
//   <cache>/reference/<name>/<output_name>.npy
//
// The models and inputs come from export_models.py:
//   <cache>/models/<name>.onnx and <cache>/inputs/<name>.npy
// The cache directory is --cache DIR, else $LEDGE_CACHE, else
// <repo>/.cache/networks. References already written are kept unless --force.
//
// Usage: node ort_reference.js [--cache DIR] [--force] [NAME ...]
//   (NAME defaults to every model in <cache>/models)
//        node ort_reference.js --run MODEL INPUT.npy OUTPUT_DIR [--repeat N]
//   (one model on one input, e.g. for scripts/demo.sh; prints the median
//    time of N runs after a warm-up run)
'use strict';

const fs = require('fs');
const path = require('path');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error('ort_reference.js: cannot load onnxruntime-node (' + e.message.split('\n')[0] +
                '); run scripts/install-deps');
  process.exit(2);
}

// ---- .npy reading and writing (version 1.0, little-endian, C order) ----

const NPY_TYPES = {
  '<f4': {ort: 'float32', array: Float32Array},
  '<f8': {ort: 'float64', array: Float64Array},
  '|i1': {ort: 'int8', array: Int8Array},
  '<i2': {ort: 'int16', array: Int16Array},
  '<i4': {ort: 'int32', array: Int32Array},
  '<i8': {ort: 'int64', array: BigInt64Array},
  '|u1': {ort: 'uint8', array: Uint8Array},
  '<u2': {ort: 'uint16', array: Uint16Array},
  '<u4': {ort: 'uint32', array: Uint32Array},
  '<u8': {ort: 'uint64', array: BigUint64Array},
  '|b1': {ort: 'bool', array: Uint8Array},
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(file + ': not a .npy file');
  }
  const major = buf[6];
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(file + ': malformed .npy header');
  if (fortran[1] === 'True') throw new Error(file + ': Fortran-order arrays are not supported');
  const type = NPY_TYPES[descr[1]];
  if (!type) throw new Error(file + ': unsupported dtype ' + descr[1]);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  const bytes = count * type.array.BYTES_PER_ELEMENT;
  if (buf.length < offset + bytes) throw new Error(file + ': truncated .npy data');
  // Copy into a fresh, aligned ArrayBuffer (Buffer slices may be unaligned).
  const data = new type.array(count);
  new Uint8Array(data.buffer).set(buf.subarray(offset, offset + bytes));
  return new ort.Tensor(type.ort, type.ort === 'bool' ? Uint8Array.from(data) : data, dims);
}

function writeNpy(file, tensor) {
  const entry = Object.entries(NPY_TYPES).find(([, t]) => t.ort === tensor.type);
  if (!entry) throw new Error('cannot write a tensor of type ' + tensor.type + ' as .npy');
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? '(' + dims[0] + ',)' : '(' + dims.join(', ') + ')';
  let dict = "{'descr': '" + entry[0] + "', 'fortran_order': False, 'shape': " + shape + ', }';
  // Pad so that the data starts at a multiple of 64 bytes; the header ends in '\n'.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n';
  const prelude = Buffer.alloc(10);
  Buffer.from([0x93]).copy(prelude, 0);
  prelude.write('NUMPY', 1, 'latin1');
  prelude[6] = 1;
  prelude[7] = 0;
  prelude.writeUInt16LE(dict.length, 8);
  const data = tensor.data;
  const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (require('os').endianness() !== 'LE') throw new Error('big-endian hosts are not supported');
  fs.writeFileSync(file, Buffer.concat([prelude, Buffer.from(dict, 'latin1'), payload]));
}

// ---- Main ----

function parseArgs(argv) {
  const repo = path.resolve(__dirname, '..', '..');
  const args = {cache: process.env.LEDGE_CACHE || path.join(repo, '.cache', 'networks'),
                force: false, names: []};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cache') args.cache = argv[++i];
    else if (argv[i] === '--force') args.force = true;
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: node ort_reference.js [--cache DIR] [--force] [NAME ...]');
      process.exit(0);
    } else args.names.push(argv[i]);
  }
  return args;
}

async function runOne(args, name) {
  const model = path.join(args.cache, 'models', name + '.onnx');
  const input = path.join(args.cache, 'inputs', name + '.npy');
  const outDir = path.join(args.cache, 'reference', name);
  const done = path.join(outDir, '.complete');
  if (!args.force && fs.existsSync(done)) {
    console.log(name.padEnd(20) + ' cached  ' + outDir);
    return;
  }
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  });
  const feeds = {[session.inputNames[0]]: readNpy(input)};
  const start = process.hrtime.bigint();
  const results = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  fs.rmSync(outDir, {recursive: true, force: true});
  fs.mkdirSync(outDir, {recursive: true});
  for (const outputName of session.outputNames) {
    writeNpy(path.join(outDir, outputName + '.npy'), results[outputName]);
  }
  fs.writeFileSync(done, 'onnxruntime-node ' + require('onnxruntime-node/package.json').version +
                   '\n');
  console.log(name.padEnd(20) + ' ' + ms.toFixed(1).padStart(8) + ' ms  ' +
              session.outputNames.map((n) => n + results[n].dims.join('x').replace(/^/, '[') +
                                      ']').join(' '));
  await session.release();
}

// --run MODEL INPUT OUTDIR: runs one model and reports its median run time.
async function runSingle(argv) {
  const [model, input, outDir] = argv;
  const repeatAt = argv.indexOf('--repeat');
  const repeat = repeatAt >= 0 ? Math.max(1, Number(argv[repeatAt + 1]) || 1) : 1;
  if (!model || !input || !outDir) {
    console.error('usage: node ort_reference.js --run MODEL INPUT.npy OUTPUT_DIR [--repeat N]');
    return 2;
  }
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu']});
  const feeds = {[session.inputNames[0]]: readNpy(input)};
  let results = await session.run(feeds); // warm-up
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const start = process.hrtime.bigint();
    results = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  fs.mkdirSync(outDir, {recursive: true});
  for (const name of session.outputNames) writeNpy(path.join(outDir, name + '.npy'), results[name]);
  console.log('onnxruntime-node ' + require('onnxruntime-node/package.json').version +
              ': median run ' + times[times.length >> 1].toFixed(1) + ' ms over ' + repeat +
              ' run(s)');
  await session.release();
  return 0;
}

async function main() {
  if (process.argv[2] === '--run') return runSingle(process.argv.slice(3));
  const args = parseArgs(process.argv.slice(2));
  let names = args.names;
  if (!names.length) {
    const dir = path.join(args.cache, 'models');
    if (!fs.existsSync(dir)) {
      console.error('ort_reference.js: no models in ' + dir + ': run export_models.py first');
      return 2;
    }
    names = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5))
        .sort();
  }
  console.log('ONNX Runtime ' + require('onnxruntime-node/package.json').version +
              ' (onnxruntime-node, CPU)');
  let failed = 0;
  for (const name of names) {
    try {
      await runOne(args, name);
    } catch (e) {
      console.error(name.padEnd(20) + ' FAILED: ' + e.message);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error('ort_reference.js: ' + e.stack);
  process.exit(1);
});
