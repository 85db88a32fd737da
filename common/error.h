#pragma once
// Error types and exit codes. Internal code throws; the runner and the CLI are the only places
// that turn exceptions into exit codes.

#include <stdexcept>
#include <string>

namespace adaflow {

/// Process exit codes (the CLI contract).
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,    ///< a bug or an environment failure
  kBadInput = 2,    ///< config, model or data the user can fix; the message names the file:line or key
  kInterrupted = 130,
};

/// Bad input the user can fix: malformed config, unknown key, missing model, data of the wrong shape.
/// The message names the file and line, or the key.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A failure inside one node of a run (a stage, or a sub-node such as one layer).
/// Carries the node id and whether the cause was bad input.
class NodeError : public std::runtime_error {
 public:
  NodeError(std::string node_id, const std::string& message, bool bad_input)
      : std::runtime_error("stage '" + node_id + "': " + message),
        node_id_(std::move(node_id)),
        bad_input_(bad_input) {}
  const std::string& node_id() const { return node_id_; }
  bool bad_input() const { return bad_input_; }
  ExitCode exit_code() const { return bad_input_ ? ExitCode::kBadInput : ExitCode::kInternal; }

 private:
  std::string node_id_;
  bool bad_input_;
};

/// The run was stopped (Ctrl-C) before every node finished; finished nodes are kept.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace adaflow
