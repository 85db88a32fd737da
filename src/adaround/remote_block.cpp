#include "src/adaround/remote_block.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <type_traits>

#include "common/bytes.h"
#include "common/kill_point.h"
#include "src/adaround/wire.h"

namespace adaflow::adaround {

BlockResult SolveBlock(const BlockProblem& problem, const ChannelBlock& block, const BlockProgress& progress,
                       const std::atomic<bool>* stop) {
  KillPoint("optimize:" + problem.layer.name);
  if (problem.objective == Objective::kGram)
    return OptimizeGramBlock(problem.layer, block, problem.weight, problem.grid, problem.form, problem.loss_scale,
                             problem.hyper, progress, stop);
  return OptimizeSampledBlock(problem.layer, block, problem.weight, problem.bias, problem.grid, problem.sampled,
                              problem.hyper, problem.seed, progress, stop);
}

std::string SaveBlockProblem(const BlockProblem& problem) {
  ByteWriter out;
  PutLayer(out, problem.layer);
  out.Put<std::int32_t>(static_cast<std::int32_t>(problem.objective));
  PutTensor(out, problem.weight);
  PutTensor(out, problem.bias);
  PutTensor(out, problem.grid.scale);
  PutTensor(out, problem.grid.offset);
  PutTensor(out, problem.grid.steps);
  const bool gram = problem.objective == Objective::kGram;
  PutTensor(out, gram ? problem.form.hh : torch::Tensor());
  PutTensor(out, gram ? problem.form.cross : torch::Tensor());
  out.Put(problem.loss_scale);
  const bool sampled = !gram;
  PutTensor(out, sampled ? problem.sampled.input.All() : torch::Tensor());
  PutTensor(out, sampled ? problem.sampled.target.All() : torch::Tensor());
  out.Put(problem.sampled.denominator);
  const Hyper& hyper = problem.hyper;
  out.Put<std::int32_t>(hyper.num_iterations);
  out.Put(hyper.reg_param);
  out.Put(hyper.beta_start);
  out.Put(hyper.beta_end);
  out.Put(hyper.warm_start);
  out.Put(hyper.learning_rate);
  out.Put<std::int32_t>(hyper.batch_size);
  out.Put<std::int32_t>(hyper.positions_per_sample);
  out.Put(problem.seed);
  return out.Take();
}

std::shared_ptr<const BlockProblem> LoadBlockProblem(const std::string& bytes) {
  ByteReader in(bytes);
  auto problem = std::make_shared<BlockProblem>();
  problem->layer = GetLayer(in);
  problem->objective = static_cast<Objective>(in.Get<std::int32_t>());
  problem->weight = GetTensor(in);
  problem->bias = GetTensor(in);
  problem->grid.scale = GetTensor(in);
  problem->grid.offset = GetTensor(in);
  problem->grid.steps = GetTensor(in);
  problem->form.hh = GetTensor(in);
  problem->form.cross = GetTensor(in);
  problem->loss_scale = in.Get<double>();
  torch::Tensor input = GetTensor(in);
  torch::Tensor target = GetTensor(in);
  if (input.defined()) problem->sampled.input = input;
  if (target.defined()) problem->sampled.target = target;
  problem->sampled.denominator = in.Get<double>();
  Hyper& hyper = problem->hyper;
  hyper.num_iterations = in.Get<std::int32_t>();
  hyper.reg_param = in.Get<double>();
  hyper.beta_start = in.Get<double>();
  hyper.beta_end = in.Get<double>();
  hyper.warm_start = in.Get<double>();
  hyper.learning_rate = in.Get<double>();
  hyper.batch_size = in.Get<std::int32_t>();
  hyper.positions_per_sample = in.Get<std::int32_t>();
  problem->seed = in.Get<std::uint64_t>();
  return problem;
}

std::string SaveBlockRequest(const ChannelBlock& block, bool progress) {
  ByteWriter out;
  out.Put(block.begin);
  out.Put(block.end);
  out.Put<std::uint8_t>(progress);
  return out.Take();
}

std::string SaveBlockResult(const BlockResult& result) {
  ByteWriter out;
  PutTensor(out, result.weight);
  PutTensor(out, result.alpha);
  return out.Take();
}

BlockResult LoadBlockResult(const std::string& bytes) {
  ByteReader in(bytes);
  BlockResult result;
  result.weight = GetTensor(in);
  result.alpha = GetTensor(in);
  return result;
}

std::pair<int, double> LoadBlockProgress(const std::string& bytes) {
  ByteReader in(bytes);
  const auto iteration = in.Get<std::int32_t>();
  return {iteration, in.Get<double>()};
}

RemoteHandler BlockHandler(double progress_seconds) {
  RemoteHandler handler;
  handler.parse_context = [](const std::string& bytes) -> std::shared_ptr<const void> {
    return LoadBlockProblem(bytes);
  };
  handler.run = [progress_seconds](const void* context, const std::string& request,
                                   const std::function<void(const std::string&)>& report,
                                   const std::atomic<bool>* stop) {
    const auto& problem = *static_cast<const BlockProblem*>(context);
    ByteReader in(request);
    ChannelBlock block;
    block.begin = in.Get<std::int64_t>();
    block.end = in.Get<std::int64_t>();
    const bool wants_progress = in.Get<std::uint8_t>() != 0;
    BlockProgress progress;
    if (wants_progress && report) {
      auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
      progress = [report, last, progress_seconds](int iteration, double loss) {
        const auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - *last).count() < progress_seconds) return;
        *last = now;
        ByteWriter out;
        out.Put<std::int32_t>(iteration);
        out.Put(loss);
        report(out.Take());
      };
    }
    return SaveBlockResult(SolveBlock(problem, block, progress, stop));
  };
  return handler;
}

}  // namespace adaflow::adaround
