// Runs an ONNX model with ONNX Runtime (npm's onnxruntime-node, CPU) on float32 inputs from a file.
//
//   node tests/onnx/ort_run.js MODEL.onnx INPUT.f32 OUTPUT.f32 D0 D1 ...
//
// INPUT.f32 holds D0·D1·… little-endian float32 values (the model's input "input"); the model's output
// "output" is written to OUTPUT.f32 the same way and its shape printed as JSON. Exit 1 on any error,
// with ONNX Runtime's message.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
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
