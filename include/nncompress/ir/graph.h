#pragma once
// The graph IR: values, nodes and the graph that owns them, with use lists kept consistent by
// the graph's rewrite helpers. Nodes keep their stored order (ONNX requires it topological);
// passes that reorder call sort_topologically().
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/ir/attribute.h"
#include "nncompress/ir/tensor.h"
#include "nncompress/ir/value_type.h"

namespace nncompress::ir {

class Graph;
class Node;

// A place where a value is read: input `index` of `node` (or one of its implicit inputs when
// `implicit` is set: subgraphs read it from the enclosing scope).
struct Use {
  Node* node = nullptr;
  size_t index = 0;
  bool implicit = false;
  bool operator==(const Use& o) const { return node == o.node && index == o.index && implicit == o.implicit; }
};

class Value {
 public:
  const std::string& name() const { return name_; }
  // The node that computes this value; nullptr for graph inputs and initializers.
  Node* producer() const { return producer_; }
  size_t producer_output_index() const { return producer_output_; }
  const std::vector<Use>& uses() const { return uses_; }
  bool has_initializer() const { return initializer_ != nullptr; }
  const Tensor* initializer() const { return initializer_.get(); }
  Tensor* mutable_initializer() { return initializer_.get(); }
  bool is_graph_input() const { return is_graph_input_; }
  bool is_graph_output() const { return is_graph_output_; }

  ValueType type;
  // doc_string of the value's ValueInfoProto (graph input/output or value_info entry).
  std::string doc_string;

 private:
  friend class Graph;
  explicit Value(std::string name) : name_(std::move(name)) {}
  std::string name_;
  Node* producer_ = nullptr;
  size_t producer_output_ = 0;
  std::vector<Use> uses_;
  std::unique_ptr<Tensor> initializer_;
  bool is_graph_input_ = false;
  bool is_graph_output_ = false;
};

// What a new node looks like; Graph::add_node turns it into a Node wired into the graph.
struct NodeSpec {
  std::string op_type;
  std::string name;
  std::string domain;
  std::vector<Value*> inputs;               // nullptr = omitted optional input
  std::vector<std::string> output_names;    // "" = omitted optional output
  std::vector<Attribute> attributes;
  std::vector<Value*> implicit_inputs;
  std::string doc_string;
};

class Node {
 public:
  const std::string& op_type() const { return op_type_; }
  const std::string& domain() const { return domain_; }
  // The default ONNX domain, written "" or "ai.onnx".
  bool in_default_domain() const { return domain_.empty() || domain_ == "ai.onnx"; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  // Values of the enclosing graph that this node's subgraph attributes read.
  const std::vector<Value*>& implicit_inputs() const { return implicit_inputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }
  Graph& graph() const { return *graph_; }

  // Attribute access; the typed getters return `fallback` when the attribute is absent and throw
  // bad_input when it exists with another kind.
  const Attribute* find_attribute(const std::string& name) const;
  bool has_attribute(const std::string& name) const { return find_attribute(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, const std::vector<int64_t>& fallback) const;
  // Adds or replaces.
  void set_attribute(Attribute attribute);
  bool remove_attribute(const std::string& name);
  const std::vector<Attribute>& attributes() const { return attributes_; }

  // A short label for messages: "'conv1' (Conv)", or "#12 (Conv)" for unnamed nodes.
  std::string describe() const;

  std::string name;
  std::string doc_string;

 private:
  friend class Graph;
  Node() = default;
  Graph* graph_ = nullptr;
  std::string op_type_;
  std::string domain_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Value*> implicit_inputs_;
  std::vector<Attribute> attributes_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  // Moves re-point every node at its new graph (Node::graph_).
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;

  // ---- lookup -------------------------------------------------------------------------------
  Value* find_value(const std::string& name) const;
  Value& value(const std::string& name) const;  // throws bad_input when absent
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::vector<Value*>& initializers() const { return initializers_; }
  // Values that are neither graph inputs nor outputs but carry a type (ONNX value_info), in order.
  std::vector<Value*> typed_intermediate_values() const;
  // Every value in creation order.
  std::vector<Value*> values() const;
  // Nodes in an order where each node follows the producers of its inputs; throws bad_input on
  // a cycle. The stored order is returned unchanged when it already is topological.
  std::vector<Node*> topological_order() const;

  // ---- building -----------------------------------------------------------------------------
  // A graph input (or an existing value, when a name is both input and initializer).
  Value* add_input(const std::string& name, ValueType type = {});
  void mark_output(Value* value);
  void clear_outputs();
  Value* add_initializer(const std::string& name, Tensor tensor);
  // Drops the initializer's data; the value disappears too when nothing else refers to it.
  void remove_initializer(Value* value);
  // A node appended at the end of the stored order, or inserted before `before`.
  Node* add_node(NodeSpec spec, Node* before = nullptr);
  // A value name not yet used in this graph, derived from `base`.
  std::string unique_name(const std::string& base) const;

  // ---- rewriting ----------------------------------------------------------------------------
  void set_input(Node* node, size_t index, Value* value);
  // Every reader of `from` (nodes, implicit inputs, graph outputs) reads `to` instead.
  void replace_all_uses(Value* from, Value* to);
  // Removes a node whose outputs nobody reads (throws internal_error otherwise).
  void erase_node(Node* node);
  // Makes `to` produce `from`'s output `i` in place of its own output `j` (which nobody may read):
  // the value keeps its name, readers and place among the graph outputs, so a node rewritten into
  // several keeps the model's interface. `from` is left without that output.
  void move_output(Node* from, size_t i, Node* to, size_t j);
  // Removes a node with one output and keeps that output, same name and readers, as an
  // initializer holding `tensor` (a Constant node becomes a weight).
  Value* replace_by_initializer(Node* node, Tensor tensor);
  // Reorders the stored nodes topologically (stable for nodes already in order).
  void sort_topologically();
  // Removes values that have no producer, no uses, no initializer and are not graph inputs/outputs.
  void remove_dangling_values();

  std::string name;
  std::string doc_string;
  // Serialized ONNX TensorAnnotation entries (quantization_annotation), carried through.
  std::vector<std::string> opaque_quantization_annotations;

 private:
  Value* create_value(const std::string& name);
  void add_use(Value* value, Use use);
  void drop_use(Value* value, const Use& use);
  // Drops the node's reads of its inputs and removes it from the stored nodes.
  void unlink(Node* node);

  // A new member must be moved in the move operations too (graph.cpp).
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> value_storage_;
  std::unordered_map<std::string, Value*> values_by_name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Value*> initializers_;
};

}  // namespace nncompress::ir
