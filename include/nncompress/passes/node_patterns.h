#pragma once
// Which nodes a `keep` list names, as ONNX Runtime's nodes_to_exclude and NNCF's IgnoredScope do:
// an exact node name, a glob over node names ("backbone.*", "*_se_*"), or "op:TYPE" for every node
// of an op type ("op:MatMul"). A pattern that matches no node is a mistake the user should hear of.
#include <string>
#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::passes {

// The names of the nodes the patterns match, in graph order. Throws bad_input for a pattern that
// matches nothing, naming `option` and showing what node names look like.
std::vector<std::string> resolve_node_patterns(const ir::Graph& graph, const std::vector<std::string>& patterns,
                                               const std::string& option);

}  // namespace nncompress::passes
