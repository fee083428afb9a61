#!/usr/bin/env node
// ort_run.js MANIFEST.json: runs models with ONNX Runtime (onnxruntime-node,
// CPU) for check_onnx_write.py. The manifest is a list of jobs
//   {"model": PATH, "inputs": [{"name", "type", "dims", "file"}], "out": DIR,
//    "optimization": ORT graph optimization level (default "disabled")}
// where each input file holds the raw little-endian elements. For each job
// DIR/result.json gets {"outputs": [{"name", "type", "dims", "file"}]} with
// the outputs' raw elements beside it, or {"error": MESSAGE}.
'use strict';

const fs = require('fs');
const path = require('path');

process.env.ORT_LOGGING_LEVEL = process.env.ORT_LOGGING_LEVEL || '3';
const ort = require('onnxruntime-node');

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array,
  uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array, float16: Uint16Array,
};

function readTensor(spec) {
  const Array_ = ARRAYS[spec.type];
  if (!Array_) throw new Error('input type ' + spec.type + ' is not supported here');
  const buf = fs.readFileSync(spec.file);
  const count = spec.dims.reduce((a, b) => a * b, 1);
  const data = new Array_(count);
  new Uint8Array(data.buffer).set(buf.subarray(0, count * Array_.BYTES_PER_ELEMENT));
  return new ort.Tensor(spec.type, data, spec.dims);
}

async function runJob(job) {
  fs.mkdirSync(job.out, {recursive: true});
  const result = {};
  try {
    const session = await ort.InferenceSession.create(job.model, {
      executionProviders: ['cpu'], graphOptimizationLevel: job.optimization || 'disabled',
      logSeverityLevel: 3,
    });
    const feeds = {};
    for (const input of job.inputs) feeds[input.name] = readTensor(input);
    const outputs = await session.run(feeds);
    result.outputs = session.outputNames.map((name, k) => {
      const t = outputs[name];
      if (!ARRAYS[t.type]) throw new Error('output type ' + t.type + ' is not supported here');
      const file = path.join(job.out, 'output_' + k + '.bin');
      fs.writeFileSync(file, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      return {name, type: t.type, dims: t.dims.map(Number), file};
    });
    await session.release();
  } catch (e) {
    result.error = String(e.message || e).split('\n')[0];
  }
  fs.writeFileSync(path.join(job.out, 'result.json'), JSON.stringify(result));
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) await runJob(job);
}

main().catch((e) => {
  console.error('ort_run.js: ' + e.message);
  process.exit(2);
});
