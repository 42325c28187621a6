#!/usr/bin/env node
// Latency of several models in ONNX Runtime (CPU) measured in alternation inside one process: each
// round runs every model once, so a shared machine's drift reaches all of them alike.
//   node tools/ort/alternate.js [--threads N] [--runs R] MODEL ... -- NAME=FILE.npy ...
// Prints JSON: per model its median in ms and the median over rounds of (first model's time / its
// time), i.e. its speed-up over the first model. 3 warm-up runs per model are not counted.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'npm', 'node_modules', 'onnxruntime-node'));
const { readNpy } = require('./npy');

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main() {
  const args = process.argv.slice(2);
  let threads = 1, runs = 100;
  const models = [], feeds = {};
  let feedsStarted = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--runs') runs = Number(args[++i]);
    else if (args[i] === '--') feedsStarted = true;
    else if (feedsStarted) {
      const eq = args[i].indexOf('=');
      const a = readNpy(args[i].slice(eq + 1));
      feeds[args[i].slice(0, eq)] = new ort.Tensor(a.type, a.data, a.shape);
    } else models.push(args[i]);
  }
  if (models.length === 0 || runs < 1) {
    console.error('usage: alternate.js [--threads N] [--runs R] MODEL ... -- NAME=FILE.npy ...');
    process.exit(2);
  }
  const options = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 };
  const sessions = [];
  for (const m of models) sessions.push(await ort.InferenceSession.create(m, options));
  for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
  const times = sessions.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < sessions.length; k++) {
      const t0 = process.hrtime.bigint();
      await sessions[k].run(feeds);
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  console.log(JSON.stringify(models.map((m, k) => ({
    model: m,
    median_ms: median(times[k]),
    speedup: median(times[k].map((t, r) => times[0][r] / t)),
  }))));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
