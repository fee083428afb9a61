#!/usr/bin/env node
// nms_vs_tfjs.js NMS_TOOL: ledge's non-maximum suppression (src/vision,
// through nms_tool) against TF.js's tf.image.nonMaxSuppression (CPU
// backend), the NMS the human-models pipelines use: clustered random boxes,
// several IoU thresholds and output limits; the kept indices must be the
// same, in the same order.
'use strict';
const { execFileSync } = require('child_process');
const tf = require('@tensorflow/tfjs');

function rng(seed) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296;
  };
}

async function main() {
  const tool = process.argv[2];
  await tf.setBackend('cpu');
  let failures = 0, cases = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    const n = 20 + Math.floor(r() * 200);
    const boxes = [], scores = [];
    const centers = Array.from({ length: 5 }, () => [r() * 400, r() * 300]);
    for (let i = 0; i < n; i++) {
      const c = centers[i % centers.length];
      const cx = c[0] + (r() - 0.5) * 40, cy = c[1] + (r() - 0.5) * 40;
      const w = 20 + r() * 60, h = 20 + r() * 60;
      boxes.push([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
      scores.push(r());
    }
    for (const [iou, max] of [[0.3, 100], [0.5, 10], [0.1, 3], [0.7, 1000]]) {
      cases++;
      // TF takes [y1, x1, y2, x2]
      const t = tf.tensor2d(boxes.map((b) => [b[1], b[0], b[3], b[2]]));
      const s = tf.tensor1d(scores);
      const want = Array.from(await tf.image.nonMaxSuppression(t, s, max, iou, Number.NEGATIVE_INFINITY).data());
      tf.dispose([t, s]);
      const input = boxes.map((b, i) => `${b.join(' ')} ${scores[i]}`).join('\n') + '\n';
      const got = execFileSync(tool, [String(iou), String(max)], { input }).toString().trim().split('\n')
        .filter((x) => x !== '').map(Number);
      const same = got.length === want.length && got.every((v, i) => v === want[i]);
      if (!same) {
        failures++;
        console.log(`FAIL seed ${seed} iou ${iou} max ${max}: ledge [${got.slice(0, 12)}] tfjs [${want.slice(0, 12)}]`);
      } else {
        console.log(`ok   seed ${seed} iou ${iou} max ${max}: ${n} boxes, the same ${got.length} kept`);
      }
    }
  }
  console.log(failures ? `${failures} of ${cases} cases differ` : `all ${cases} cases agree with TF.js`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
