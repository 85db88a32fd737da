// Evaluates an exported ONNX model (adaflow's <name>.onnx or <name>_qdq.onnx) on the Fashion-MNIST test
// set with ONNX Runtime alone: no adaflow, no PyTorch. Prints top-1 and top-5.
//
//   NODE_PATH=build/onnxruntime-node/node_modules node examples/onnx/evaluate_fmnist.js MODEL.onnx [SAMPLES]
//
// Inputs are the IDX images scaled to [0, 1], batches of 250, as the example config reads them.
// ORT_OPT=disabled turns off ONNX Runtime's graph optimizations (which run a QDQ model with int8 kernels):
// the QDQ model is then computed in float exactly as written, as adaflow's tests run it.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

const DATA = '/usr/share/datasets/fashion-mnist';

function readIdx(file) {
  const bytes = zlib.gunzipSync(fs.readFileSync(`${DATA}/${file}`));
  const dims = bytes[3];
  const shape = [];
  for (let i = 0; i < dims; i++) shape.push(bytes.readUInt32BE(4 + 4 * i));
  return {shape, data: bytes.subarray(4 + 4 * dims)};
}

async function main() {
  const [model, samplesArg] = process.argv.slice(2);
  if (!model) throw new Error('usage: evaluate_fmnist.js MODEL.onnx [SAMPLES]');
  const images = readIdx('t10k-images-idx3-ubyte.gz');
  const labels = readIdx('t10k-labels-idx1-ubyte.gz');
  const [count, rows, cols] = images.shape;
  const samples = Math.min(count, samplesArg ? Number(samplesArg) : count);
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: process.env.ORT_OPT || 'all'});
  const batch = 250;
  let top1 = 0, top5 = 0;
  for (let start = 0; start < samples; start += batch) {
    const size = Math.min(batch, samples - start);
    const input = new Float32Array(size * rows * cols);
    // float32(pixel) · float32(1/255): the value adaflow's idx reader gives (scale 1/255 in the config).
    for (let i = 0; i < input.length; i++) input[i] = Math.fround(images.data[start * rows * cols + i] * Math.fround(1 / 255));
    const {output} = await session.run({input: new ort.Tensor('float32', input, [size, 1, rows, cols])});
    const classes = output.dims[1];
    for (let s = 0; s < size; s++) {
      const logits = Array.from(output.data.subarray(s * classes, (s + 1) * classes));
      const label = labels.data[start + s];
      // The label's rank, ties going to the lower class index as argmax's do (a quantized output has ties).
      const better = logits.filter((value, index) => value > logits[label] || (value === logits[label] && index < label)).length;
      if (better === 0) top1++;
      if (better < 5) top5++;
    }
  }
  const percent = (hits) => (100 * hits / samples).toFixed(2);
  console.log(`${model}: top-1 ${percent(top1)} %, top-5 ${percent(top5)} % on ${samples} samples (ONNX Runtime ${require('onnxruntime-node/package.json').version})`);
}

main().catch((error) => {
  console.error(String(error && error.message ? error.message : error));
  process.exit(1);
});
