// cleanup.identity: removes nodes that compute their input unchanged — Identity, and Dropout in
// inference form (no training_mode, or a constant false, and its mask unread) — so that later
// passes see producers and consumers directly. Nodes whose output is a graph output stay: their
// names are the model's interface.
#include "nncompress/core/format.h"
#include "nncompress/passes/cleanup/normalize.h"
#include "nncompress/passes/pass.h"

namespace nncompress::passes {

namespace {

PassResult apply(ir::Model& model, const PassContext&, const OptionValues&) {
  NormalizeReport removed;
  remove_pass_through_nodes(model.graph, removed);
  PassResult result;
  result.details = {{"removed_identity", removed.identities_removed}, {"removed_dropout", removed.dropouts_removed}};
  result.summary = format("%d Identity and %d Dropout nodes removed", removed.identities_removed, removed.dropouts_removed);
  return result;
}

}  // namespace

const PassInfo& cleanup_identity_pass() {
  static const PassInfo info{
      "cleanup.identity",
      "remove Identity nodes and inference-form Dropout (graph outputs keep their names)",
      "nothing",
      {},
      nullptr,
      nullptr,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
