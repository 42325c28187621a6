#include "shared_scales.h"

#include <algorithm>
#include <vector>

namespace nncompress::passes {

namespace {

// Groups of tensor names with one range each, kept at the group's root.
class RangeGroups {
 public:
  RangeGroups(std::map<std::string, Range>& ranges, const std::set<std::string>& clamped) : ranges_(ranges) {
    for (const std::string& name : clamped)
      if (ranges.count(name)) fixed_.insert(name);
  }

  bool known(const std::string& name) const { return ranges_.count(name) > 0; }

  std::string root(const std::string& name) {
    std::string r = name;
    while (parent_.count(r)) r = parent_.at(r);
    return r;
  }

  // `derived` joins the group of `source` without widening it: its values are some of the
  // source's (Split) or within their span (nearest or linear Resize).
  void derive(const std::string& derived, const std::string& source) {
    const std::string d = root(derived), s = root(source);
    if (d == s) return;
    parent_[d] = s;
    if (fixed_.count(d)) fixed_.insert(s);
  }

  // Merges the groups of `names` into one with the union of their ranges; false (nothing merged)
  // when a group holding a clamped tensor would get a different range.
  bool unite(const std::vector<std::string>& names) {
    std::vector<std::string> roots;
    for (const std::string& n : names) {
      const std::string r = root(n);
      if (std::find(roots.begin(), roots.end(), r) == roots.end()) roots.push_back(r);
    }
    Range all = ranges_.at(roots[0]);
    for (const std::string& r : roots) all = {std::min(all.lo, ranges_.at(r).lo), std::max(all.hi, ranges_.at(r).hi)};
    for (const std::string& r : roots)
      if (fixed_.count(r) && (ranges_.at(r).lo != all.lo || ranges_.at(r).hi != all.hi)) return false;
    const bool any_fixed = std::any_of(roots.begin(), roots.end(), [&](const std::string& r) { return fixed_.count(r) > 0; });
    for (size_t i = 1; i < roots.size(); ++i) parent_[roots[i]] = roots[0];
    ranges_[roots[0]] = all;
    if (any_fixed) fixed_.insert(roots[0]);
    return true;
  }

  // Every grouped tensor takes its group's range.
  void apply() {
    for (auto& [name, range] : ranges_)
      if (parent_.count(name)) range = ranges_.at(root(name));
  }

 private:
  std::map<std::string, Range>& ranges_;
  std::map<std::string, std::string> parent_;
  std::set<std::string> fixed_;  // roots of groups holding a clamped tensor
};

}  // namespace

SharedScales share_ranges(const ir::Graph& graph, const std::function<bool(const ir::Node&)>& quantized,
                          std::map<std::string, Range>& ranges, const std::set<std::string>& clamped) {
  SharedScales result;
  RangeGroups groups(ranges, clamped);
  const std::vector<ir::Node*> order = graph.topological_order();
  for (const ir::Node* n : order) {
    const std::string& op = n->op_type();
    if ((op != "Split" && op != "Resize") || !quantized(*n) || !groups.known(n->input(0)->name())) continue;
    for (const ir::Value* v : n->outputs())
      if (v && groups.known(v->name())) groups.derive(v->name(), n->input(0)->name());
  }
  for (const ir::Node* n : order) {
    if (n->op_type() != "Concat" || !quantized(*n)) continue;
    std::vector<std::string> members{n->output(0)->name()};
    for (const ir::Value* v : n->inputs()) members.push_back(v->name());
    if (!std::all_of(members.begin(), members.end(), [&](const std::string& m) { return groups.known(m); })) continue;
    ++(groups.unite(members) ? result.concats : result.concats_left_apart);
  }
  groups.apply();
  return result;
}

}  // namespace nncompress::passes
