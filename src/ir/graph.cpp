#include "nncompress/ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "nncompress/core/error.h"
#include "nncompress/core/format.h"

namespace nncompress::ir {

// ---- Node -----------------------------------------------------------------------------------

const Attribute* Node::find_attribute(const std::string& attr_name) const {
  for (const Attribute& a : attributes_)
    if (a.name == attr_name) return &a;
  return nullptr;
}

static const Attribute* typed(const Node& node, const std::string& name, AttributeKind kind) {
  const Attribute* a = node.find_attribute(name);
  if (a && a->kind != kind)
    throw bad_input("node " + node.describe() + ": attribute '" + name + "' is " + to_string(a->kind) +
                    ", expected " + to_string(kind));
  return a;
}

int64_t Node::attr_int(const std::string& attr_name, int64_t fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeKind::Int);
  return a ? a->i : fallback;
}

float Node::attr_float(const std::string& attr_name, float fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeKind::Float);
  return a ? a->f : fallback;
}

std::string Node::attr_string(const std::string& attr_name, const std::string& fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeKind::String);
  return a ? a->s : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& attr_name, const std::vector<int64_t>& fallback) const {
  const Attribute* a = typed(*this, attr_name, AttributeKind::Ints);
  return a ? a->ints : fallback;
}

void Node::set_attribute(Attribute attribute) {
  for (Attribute& a : attributes_) {
    if (a.name == attribute.name) {
      a = std::move(attribute);
      return;
    }
  }
  attributes_.push_back(std::move(attribute));
}

bool Node::remove_attribute(const std::string& attr_name) {
  auto it = std::find_if(attributes_.begin(), attributes_.end(), [&](const Attribute& a) { return a.name == attr_name; });
  if (it == attributes_.end()) return false;
  attributes_.erase(it);
  return true;
}

std::string Node::describe() const {
  if (!name.empty()) return "'" + printable(name) + "' (" + printable(op_type_) + ")";
  const auto& nodes = graph_->nodes();
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].get() == this) return "#" + std::to_string(i) + " (" + printable(op_type_) + ")";
  return "(" + printable(op_type_) + ")";
}

// ---- Graph: moves ----------------------------------------------------------------------------

Graph::Graph(Graph&& other) noexcept { *this = std::move(other); }

Graph& Graph::operator=(Graph&& other) noexcept {
  name = std::move(other.name);
  doc_string = std::move(other.doc_string);
  opaque_quantization_annotations = std::move(other.opaque_quantization_annotations);
  nodes_ = std::move(other.nodes_);
  value_storage_ = std::move(other.value_storage_);
  values_by_name_ = std::move(other.values_by_name_);
  inputs_ = std::move(other.inputs_);
  outputs_ = std::move(other.outputs_);
  initializers_ = std::move(other.initializers_);
  for (auto& n : nodes_) n->graph_ = this;
  return *this;
}

// ---- Graph: lookup ----------------------------------------------------------------------------

Value* Graph::find_value(const std::string& value_name) const {
  auto it = values_by_name_.find(value_name);
  return it == values_by_name_.end() ? nullptr : it->second;
}

Value& Graph::value(const std::string& value_name) const {
  Value* v = find_value(value_name);
  if (!v) throw bad_input("graph has no value named '" + value_name + "'");
  return *v;
}

std::vector<Value*> Graph::values() const {
  std::vector<Value*> out;
  out.reserve(value_storage_.size());
  for (const auto& v : value_storage_) out.push_back(v.get());
  return out;
}

std::vector<Value*> Graph::typed_intermediate_values() const {
  std::vector<Value*> out;
  for (const auto& v : value_storage_)
    if (v->type.defined && !v->is_graph_input_ && !v->is_graph_output_) out.push_back(v.get());
  return out;
}

std::vector<Node*> Graph::topological_order() const {
  // Kahn's algorithm, taking ready nodes in stored order so an already sorted graph is unchanged.
  std::unordered_map<const Node*, size_t> pending;
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node* n = nodes_[i].get();
    position[n] = i;
    size_t deps = 0;
    auto count = [&](const Value* v) {
      if (v && v->producer_) ++deps;
    };
    for (const Value* v : n->inputs_) count(v);
    for (const Value* v : n->implicit_inputs_) count(v);
    pending[n] = deps;
  }
  std::vector<Node*> order;
  order.reserve(nodes_.size());
  std::vector<size_t> ready;  // min-heap by stored position
  auto push = [&](size_t i) {
    ready.push_back(i);
    std::push_heap(ready.begin(), ready.end(), std::greater<>());
  };
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (pending[nodes_[i].get()] == 0) push(i);
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    Node* n = nodes_[ready.back()].get();
    ready.pop_back();
    order.push_back(n);
    for (const Value* out : n->outputs_) {
      if (!out) continue;
      for (const Use& u : out->uses_)
        if (--pending[u.node] == 0) push(position[u.node]);
    }
  }
  if (order.size() != nodes_.size()) {
    for (const auto& n : nodes_)
      if (pending[n.get()] > 0) throw bad_input("graph has a cycle through node " + n->describe());
  }
  return order;
}

// ---- Graph: building --------------------------------------------------------------------------

Value* Graph::create_value(const std::string& value_name) {
  if (value_name.empty()) throw internal_error("values need a name");
  if (values_by_name_.count(value_name)) throw bad_input("value '" + value_name + "' is defined twice");
  value_storage_.push_back(std::unique_ptr<Value>(new Value(value_name)));
  Value* v = value_storage_.back().get();
  values_by_name_[value_name] = v;
  return v;
}

Value* Graph::add_input(const std::string& value_name, ValueType type) {
  Value* v = find_value(value_name);
  if (v && (v->is_graph_input_ || v->producer_))
    throw bad_input("graph input '" + value_name + "' is defined twice");
  if (!v) v = create_value(value_name);
  v->is_graph_input_ = true;
  v->type = std::move(type);
  inputs_.push_back(v);
  return v;
}

void Graph::mark_output(Value* v) {
  v->is_graph_output_ = true;
  outputs_.push_back(v);
}

void Graph::clear_outputs() {
  for (Value* v : outputs_) v->is_graph_output_ = false;
  outputs_.clear();
}

Value* Graph::add_initializer(const std::string& value_name, Tensor tensor) {
  Value* v = find_value(value_name);
  if (v && (v->initializer_ || v->producer_)) throw bad_input("initializer '" + value_name + "' is defined twice");
  if (!v) v = create_value(value_name);
  tensor.name = value_name;
  v->initializer_ = std::make_unique<Tensor>(std::move(tensor));
  initializers_.push_back(v);
  return v;
}

void Graph::remove_initializer(Value* v) {
  if (!v->initializer_) throw internal_error("value '" + v->name() + "' is not an initializer");
  v->initializer_.reset();
  initializers_.erase(std::find(initializers_.begin(), initializers_.end(), v));
  remove_dangling_values();
}

Node* Graph::add_node(NodeSpec spec, Node* before) {
  auto node = std::unique_ptr<Node>(new Node());
  Node* n = node.get();
  n->graph_ = this;
  n->op_type_ = std::move(spec.op_type);
  n->domain_ = std::move(spec.domain);
  n->name = std::move(spec.name);
  n->doc_string = std::move(spec.doc_string);
  n->attributes_ = std::move(spec.attributes);
  for (const std::string& out_name : spec.output_names) {
    if (out_name.empty()) {
      n->outputs_.push_back(nullptr);
      continue;
    }
    Value* v = find_value(out_name);
    if (v && (v->producer_ || v->initializer_ || v->is_graph_input_))
      throw bad_input("value '" + out_name + "' is defined twice (again as an output of " + n->describe() + ")");
    if (!v) v = create_value(out_name);  // may exist already when a reader was wired first
    v->producer_ = n;
    v->producer_output_ = n->outputs_.size();
    n->outputs_.push_back(v);
  }
  n->inputs_ = std::move(spec.inputs);
  for (size_t i = 0; i < n->inputs_.size(); ++i)
    if (n->inputs_[i]) add_use(n->inputs_[i], Use{n, i, false});
  n->implicit_inputs_ = std::move(spec.implicit_inputs);
  for (size_t i = 0; i < n->implicit_inputs_.size(); ++i) add_use(n->implicit_inputs_[i], Use{n, i, true});

  auto pos = nodes_.end();
  if (before) {
    pos = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& p) { return p.get() == before; });
    if (pos == nodes_.end()) throw internal_error("insertion point is not a node of this graph");
  }
  nodes_.insert(pos, std::move(node));
  return n;
}

std::string Graph::unique_name(const std::string& base) const {
  if (!find_value(base)) return base;
  for (size_t i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!find_value(candidate)) return candidate;
  }
}

// ---- Graph: rewriting -------------------------------------------------------------------------

void Graph::add_use(Value* v, Use use) { v->uses_.push_back(use); }

void Graph::drop_use(Value* v, const Use& use) {
  auto it = std::find(v->uses_.begin(), v->uses_.end(), use);
  if (it == v->uses_.end()) throw internal_error("use list of '" + v->name() + "' is out of sync");
  v->uses_.erase(it);
}

void Graph::set_input(Node* node, size_t index, Value* v) {
  if (index >= node->inputs_.size()) node->inputs_.resize(index + 1, nullptr);
  if (Value* old = node->inputs_[index]) drop_use(old, Use{node, index, false});
  node->inputs_[index] = v;
  if (v) add_use(v, Use{node, index, false});
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  const std::vector<Use> uses = from->uses_;
  for (const Use& u : uses) {
    if (u.implicit) {
      u.node->implicit_inputs_[u.index] = to;
      drop_use(from, u);
      add_use(to, u);
    } else {
      set_input(u.node, u.index, to);
    }
  }
  if (from->is_graph_output_) {
    for (Value*& out : outputs_)
      if (out == from) out = to;
    from->is_graph_output_ = false;
    to->is_graph_output_ = true;
  }
}

void Graph::erase_node(Node* node) {
  for (Value* out : node->outputs_) {
    if (out && (!out->uses_.empty() || out->is_graph_output_))
      throw internal_error("cannot erase " + node->describe() + ": its output '" + out->name() + "' is still read");
  }
  for (Value* out : node->outputs_)
    if (out) out->producer_ = nullptr;
  unlink(node);
  remove_dangling_values();
}

void Graph::move_output(Node* from, size_t i, Node* to, size_t j) {
  Value* v = from->output(i);
  Value* w = to->output(j);
  if (!v || !w || !w->uses_.empty() || w->is_graph_output_)
    throw internal_error("cannot move an output of " + from->describe() + " to " + to->describe());
  w->producer_ = nullptr;
  to->outputs_[j] = v;
  v->producer_ = to;
  v->producer_output_ = j;
  from->outputs_[i] = nullptr;
  remove_dangling_values();
}

void Graph::unlink(Node* node) {
  for (size_t i = 0; i < node->inputs_.size(); ++i)
    if (node->inputs_[i]) drop_use(node->inputs_[i], Use{node, i, false});
  for (size_t i = 0; i < node->implicit_inputs_.size(); ++i)
    drop_use(node->implicit_inputs_[i], Use{node, i, true});
  nodes_.erase(std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& p) { return p.get() == node; }));
}

Value* Graph::replace_by_initializer(Node* node, Tensor tensor) {
  if (node->outputs_.size() != 1 || !node->outputs_[0])
    throw internal_error(node->describe() + " has not exactly one output to keep as an initializer");
  Value* v = node->outputs_[0];
  v->producer_ = nullptr;
  unlink(node);
  tensor.name = v->name();
  v->initializer_ = std::make_unique<Tensor>(std::move(tensor));
  initializers_.push_back(v);
  remove_dangling_values();
  return v;
}

void Graph::sort_topologically() {
  const std::vector<Node*> order = topological_order();
  std::unordered_map<const Node*, std::unique_ptr<Node>> owned;
  for (auto& n : nodes_) owned[n.get()] = std::move(n);
  nodes_.clear();
  for (Node* n : order) nodes_.push_back(std::move(owned[n]));
}

void Graph::remove_dangling_values() {
  auto dangling = [](const std::unique_ptr<Value>& v) {
    return !v->producer_ && v->uses_.empty() && !v->initializer_ && !v->is_graph_input_ && !v->is_graph_output_;
  };
  for (const auto& v : value_storage_)
    if (dangling(v)) values_by_name_.erase(v->name());
  value_storage_.erase(std::remove_if(value_storage_.begin(), value_storage_.end(), dangling), value_storage_.end());
}

}  // namespace nncompress::ir
