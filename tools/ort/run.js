#!/usr/bin/env node
// Runs a model in ONNX Runtime (CPU), the independent oracle for nncompress's executor.
//   node tools/ort/run.js MODEL OUT_DIR [--threads N] [--repeat R] [--config KEY=VALUE]
//                         [--optimized PATH] NAME=FILE.npy ...
// Writes each output as OUT_DIR/<output name>.npy; with --repeat R prints the median latency
// of R runs in milliseconds as JSON {"median_ms": ...}. --config sets a session configuration
// entry (repeatable), e.g. session.qdq_matmulnbits_accuracy_level=0 for float accumulation in
// the MatMulNBits kernels ONNX Runtime fuses block-wise weights into (its default, 4, rounds
// the activations to int8). --optimized PATH writes the graph ONNX Runtime runs after its fusions
// (to see which Q/DQ groups became integer kernels).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'npm', 'node_modules', 'onnxruntime-node'));
const { readNpy, writeNpy } = require('./npy');

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) {
    console.error('usage: run.js MODEL OUT_DIR [--threads N] [--repeat R] [--config KEY=VALUE] [--optimized PATH] NAME=FILE.npy ...');
    process.exit(2);
  }
  const [model, outDir] = args;
  let threads = 0;
  let repeat = 0;
  const feeds = {};
  const config = {};
  let optimized = '';
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--repeat') repeat = Number(args[++i]);
    else if (args[i] === '--optimized') optimized = args[++i];
    else if (args[i] === '--config') {
      const entry = args[++i];
      config[entry.slice(0, entry.indexOf('='))] = entry.slice(entry.indexOf('=') + 1);
    }
    else {
      const eq = args[i].indexOf('=');
      const a = readNpy(args[i].slice(eq + 1));
      feeds[args[i].slice(0, eq)] = new ort.Tensor(a.type, a.data, a.shape);
    }
  }
  const options = { executionProviders: ['cpu'] };
  if (threads > 0) Object.assign(options, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  if (Object.keys(config).length > 0) options.extra = config;
  if (optimized) options.optimizedModelFilePath = optimized;
  const session = await ort.InferenceSession.create(model, options);
  let results = await session.run(feeds);
  if (repeat > 0) {
    const times = [];
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      results = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: times }));
  }
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    writeNpy(path.join(outDir, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy'), t.type, t.dims, t.data);
  }
}

main().catch((e) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
