#!/usr/bin/env node
// extract_nsfwjs.js OUTDIR: writes the Keras layers models that the npm
// package nsfwjs embeds in JS modules (model.min.js + base64 weight shards)
// as ordinary TF.js files: OUTDIR/nsfwjs-<model>/model.json and one .bin per
// shard, named as the manifest says. Models already extracted are skipped.
// This is setup (run by tests/tfjs/prepare.sh), never run time.
'use strict';
const fs = require('fs');
const path = require('path');

const models = ['mobilenet_v2', 'inception_v3'];

function main() {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node extract_nsfwjs.js OUTDIR');
    process.exit(2);
  }
  const pkg = path.resolve(path.dirname(require.resolve('nsfwjs')), '..', '..');
  for (const name of models) {
    const dir = path.join(out, 'nsfwjs-' + name);
    if (fs.existsSync(path.join(dir, 'model.json'))) continue;
    const src = path.join(pkg, 'dist', 'models', name);
    const model = require(path.join(src, 'model.min.js'));
    if (!model.modelTopology || !model.weightsManifest) throw new Error(`${src}: no model in model.min.js`);
    const tmp = dir + '.tmp';
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    let bytes = 0;
    for (const group of model.weightsManifest) {
      for (const p of group.paths) {
        if (p.includes('/') || p.includes('..')) throw new Error(`${name}: odd shard path ${p}`);
        const b64 = require(path.join(src, p + '.min.js'));
        if (typeof b64 !== 'string') throw new Error(`${name}: shard ${p} is not a base64 string`);
        const buf = Buffer.from(b64, 'base64');
        fs.writeFileSync(path.join(tmp, p), buf);
        bytes += buf.length;
      }
    }
    const json = {
      format: 'layers-model',
      generatedBy: 'nsfwjs ' + require(path.join(pkg, 'package.json')).version,
      convertedBy: 'ledge tests/tfjs/extract_nsfwjs.js',
      modelTopology: model.modelTopology,
      weightsManifest: model.weightsManifest,
    };
    fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(json));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    console.log(`extract_nsfwjs.js: ${dir} (${(bytes / 1e6).toFixed(1)} MB of weights)`);
  }
}

main();
