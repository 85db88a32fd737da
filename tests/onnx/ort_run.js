// Runs an ONNX model with ONNX Runtime (npm's onnxruntime-node, CPU) on float32 inputs from a file.
//
//   node tests/onnx/ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 D0 D1 ...
//
// INPUT.f32 holds D0·D1·… little-endian float32 values (the model's input "input"); the model's output
// "output" is written to OUTPUT.f32 the same way and its shape printed as JSON. Exit 1 on any error,
// with ONNX Runtime's message.
//
//   node tests/onnx/ort_run.js --named MODEL.onnx OUTPUT.f32 NAME DTYPE FILE D0,D1,… [NAME DTYPE FILE DIMS]…
//
// A model of several inputs: each NAME read from FILE as DTYPE (float32 or int64, little-endian).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function runNamed(args) {
  const [model, outputPath, ...specs] = args;
  if (!model || !outputPath || specs.length === 0 || specs.length % 4 !== 0) {
    throw new Error('usage: ort_run.js --named MODEL.onnx OUTPUT.f32 NAME DTYPE FILE D0,D1,... ...');
  }
  const feeds = {};
  for (let i = 0; i < specs.length; i += 4) {
    const [name, dtype, file, dims] = specs.slice(i, i + 4);
    const bytes = fs.readFileSync(file);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const data = dtype === 'int64' ? new BigInt64Array(buffer) : new Float32Array(buffer);
    feeds[name] = new ort.Tensor(dtype, data, dims.split(',').map(Number));
  }
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: 'disabled'});
  const output = (await session.run(feeds)).output;
  fs.writeFileSync(outputPath, Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
  process.stdout.write(JSON.stringify({shape: output.dims}) + '\n');
}

async function main() {
  if (process.argv[2] === '--named') return runNamed(process.argv.slice(3));
  const [model, inputPath, outputPath, ...dims] = process.argv.slice(2);
  if (!model || !inputPath || !outputPath || dims.length === 0) {
    throw new Error('usage: ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 D0 D1 ...');
  }
  const shape = dims.map(Number);
  const bytes = fs.readFileSync(inputPath);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: 'disabled'});
  const result = await session.run({input: new ort.Tensor('float32', data, shape)});
  const output = result.output;
  fs.writeFileSync(outputPath, Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
  process.stdout.write(JSON.stringify({shape: output.dims}) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
  process.exit(1);
});
