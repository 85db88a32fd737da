#include "pipeline/stage_context.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "pipeline/content_hash.h"
#include "pipeline/executor.h"
#include "pipeline/run_store.h"

namespace adaflow {

StageContext::StageContext(std::string id, std::string type, std::string key, const PipelineSpec& spec,
                           RunStore& store, RunDataSets& data, std::shared_ptr<spdlog::logger> log,
                           TaskExecutor& executor, const std::atomic<bool>* stop, std::string folder)
    : id_(std::move(id)),
      type_(std::move(type)),
      key_(std::move(key)),
      spec_(spec),
      store_(store),
      data_(data),
      log_(std::move(log)),
      executor_(executor),
      stop_(stop),
      folder_(std::move(folder)) {}

int StageContext::threads() const { return executor_.threads(); }

SubTask StageContext::MakeSubTask(const std::string& name, const std::string& detail) {
  ContentHasher hasher;
  hasher.Field("stage", key_).Field("sub-task", name);
  if (!detail.empty()) hasher.Field("detail", detail);
  return SubTask(*this, name, hasher.HexDigest());
}

void StageContext::RunTasks(TaskDag& dag) {
  const TaskDag::Result result = executor_.Run(dag, stop_);
  if (!result.ok()) RethrowAsNodeError(result.first_error, id_ + "/" + result.first_error_id);
  if (stop_requested()) throw Interrupted("stage '" + id_ + "' stopped");
}

std::vector<std::string> StageContext::FinishedFiles() const {
  std::vector<std::string> files;
  if (const auto entry = store_.Find(id_))
    for (const auto& file : entry->files)
      if (file.path.compare(0, folder_.size(), folder_) == 0) files.push_back(file.path.substr(folder_.size()));
  return files;
}

SubTask::SubTask(StageContext& ctx, std::string name, std::string key)
    : ctx_(ctx), id_(ctx.id() + "/" + name), key_(std::move(key)) {}

bool SubTask::IsDone() const { return ctx_.store_.IsDone(id_, key_); }

std::string SubTask::PathFor(const std::string& file) const { return ctx_.store_.PathFor(ctx_.folder_ + file); }

void SubTask::WriteFile(const std::string& file, const std::string& bytes) {
  const std::string recorded = ctx_.folder_ + file;
  ctx_.store_.WriteAtomic(recorded, bytes);
  if (std::find(files_.begin(), files_.end(), recorded) == files_.end()) files_.push_back(recorded);
}

std::string SubTask::ReadFile(const std::string& file) const {
  std::ifstream in(PathFor(file), std::ios::binary);
  if (!in) throw InputError("'" + PathFor(file) + "' is missing; rerun with --fresh");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void SubTask::Commit(double seconds) { ctx_.store_.MarkDone(id_, key_, files_, seconds); }

std::string StageContext::WriteFile(const std::string& name, const std::string& bytes) {
  store_.WriteAtomic(folder_ + name, bytes);
  RecordFile(name);
  return PathFor(name);
}

std::string StageContext::PathFor(const std::string& name) const { return store_.PathFor(folder_ + name); }

void StageContext::RecordFile(const std::string& name) {
  const std::string recorded = folder_ + name;
  for (const auto& file : files_)
    if (file == recorded) return;
  files_.push_back(recorded);
}

}  // namespace adaflow
