#include "nncompress/passes/node_patterns.h"

#include <fnmatch.h>

#include <set>

#include "nncompress/core/error.h"

namespace nncompress::passes {

namespace {

bool matches(const ir::Node& n, const std::string& pattern) {
  if (pattern.rfind("op:", 0) == 0) return n.op_type() == pattern.substr(3);
  return n.name == pattern || ::fnmatch(pattern.c_str(), n.name.c_str(), 0) == 0;
}

std::string unmatched(const ir::Graph& graph, const std::string& pattern, const std::string& option) {
  std::string msg = option + ": '" + pattern + "' matches no node";
  bool is_op_type = false;
  for (const auto& n : graph.nodes()) is_op_type = is_op_type || n->op_type() == pattern;
  if (is_op_type) return msg + " (for every " + pattern + " node write op:" + pattern + ")";
  std::string examples;
  int shown = 0;
  for (const auto& n : graph.nodes())
    if (!n->name.empty() && n->input(1) && n->input(1)->has_initializer() && shown++ < 3)
      examples += (examples.empty() ? "'" : ", '") + n->name + "'";
  return msg + (examples.empty() ? "" : " (node names look like " + examples + "; globs and op:TYPE also work)");
}

}  // namespace

std::vector<std::string> resolve_node_patterns(const ir::Graph& graph, const std::vector<std::string>& patterns,
                                               const std::string& option) {
  std::set<const ir::Node*> chosen;
  for (const std::string& p : patterns) {
    if (p.empty()) continue;
    bool any = false;
    for (const auto& n : graph.nodes())
      if (matches(*n, p)) {
        chosen.insert(n.get());
        any = true;
      }
    if (!any) throw bad_input(unmatched(graph, p, option));
  }
  std::vector<std::string> names;
  for (const auto& n : graph.nodes())
    if (chosen.count(n.get()) && !n->name.empty()) names.push_back(n->name);
  return names;
}

}  // namespace nncompress::passes
