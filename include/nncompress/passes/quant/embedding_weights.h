#pragma once
// Embedding tables stored as int8, as ONNX Runtime's quantize_dynamic writes them: a Gather from a
// constant 2-D float table by computed indices becomes
//   Gather(W_q int8, ids) -> DequantizeLinear(scale, zero point 0)
// so only the gathered rows are dequantized at run time. One symmetric scale per table
// (DequantizeLinear after a Gather cannot follow the table's rows).
#include <set>
#include <string>
#include <vector>

#include "nncompress/ir/graph.h"
#include "nncompress/passes/pass.h"

namespace nncompress::passes {

// The Gathers of `graph` that are such lookups, except those named in `keep`.
std::vector<ir::Node*> embedding_lookups(const ir::Graph& graph, const std::set<std::string>& keep);
// Rewrites them (full-range int8: the codes only go through DequantizeLinear) and reports them in
// `result`: a table row each (op Gather), details "embeddings", a note. The graph is left to sort.
void quantize_embeddings(ir::Graph& graph, const std::vector<ir::Node*>& lookups, PassResult& result);

}  // namespace nncompress::passes
