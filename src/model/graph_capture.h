#pragma once
// Runs a model and returns chosen intermediate values: the inputs and outputs of layers, or any
// value of the inlined forward graph. Works on a copy of the graph whose outputs are replaced by the
// requested values, with dead code after them removed (DESIGN §5).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/model/model.h"
#include "src/model/value_ref.h"

namespace torch::jit {
class GraphFunction;
}

namespace adaflow::model {

class GraphCapture {
 public:
  /// `model` must outlive the capture; its weights are read at every Run (so writes are seen).
  GraphCapture(std::shared_ptr<const Model> model, std::vector<ValueRef> values);
  ~GraphCapture();

  /// One tensor per requested value, in the order given. Thread-safe for concurrent calls.
  std::vector<torch::Tensor> Run(const Inputs& inputs) const;
  std::vector<torch::Tensor> Run(const torch::Tensor& input) const { return Run(Inputs{input}); }

 private:
  std::shared_ptr<const Model> model_;
  std::unique_ptr<torch::jit::GraphFunction> function_;
};

/// The top-level nodes of `graph` in order (the index space of ValueRef).
std::vector<torch::jit::Node*> TopLevelNodes(torch::jit::Graph& graph);

/// The module of `root` whose forward a node of root's inlined graph came from: its path
/// ("layer1.0.relu"; "" for the root) and its class ("__torch__.torch.nn.modules.activation.ReLU",
/// mangling included). The call stack names each call by the attribute it was made through only
/// (`self.blocks[0]` → "0"), so a name that is not a child of the caller is looked up among the
/// caller's descendants of the call's class; when that is not one module, the path is unknown: "".
struct ModuleCall {
  std::string path;
  std::string type;
};
ModuleCall ModuleOf(const torch::jit::Module& root, const torch::jit::Node* node);

/// One call on the way from root's forward to a node: a module's method (`module` set: its path and
/// class, as ModuleOf resolves them) or a function (`function`: its name, e.g. "relu" for F.relu). `site`
/// tells two calls apart: the source range of the call.
struct CallFrame {
  std::optional<ModuleCall> module;
  std::string function;
  std::string site;
};
/// The calls from root's forward to `node`, outermost first; a module's call of its own methods is not
/// a frame. Empty when the node is in root's forward itself; nullopt when a module's path is unknown.
std::optional<std::vector<CallFrame>> CallFramesOf(const torch::jit::Module& root, const torch::jit::Node* node);

/// Makes `outputs` the graph's outputs and removes every node they do not need, side effects included:
/// an assertion about a value after them (a shape check, say) would otherwise keep the whole model
/// alive. Branches and loops that are needed are kept whole.
void SliceGraph(torch::jit::Graph& graph, const std::vector<torch::jit::Value*>& outputs);

/// The dotted path, relative to `self`, of the module a prim::GetAttr chain reaches ("" is self:
/// `self.layers.0.conv1` → "layers.0.conv1"), or nullopt when `value` is not such a chain.
std::optional<std::string> ModulePathOf(const torch::jit::Value* value, const torch::jit::Value* self);

/// Resolves a ValueRef against `graph` (a copy of Model::InlinedGraph()).
torch::jit::Value* Resolve(torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes, const ValueRef& ref);

}  // namespace adaflow::model
