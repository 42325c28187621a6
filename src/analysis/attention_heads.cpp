#include "nncompress/analysis/attention_heads.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "nncompress/analysis/int_constant.h"
#include "nncompress/analysis/static_shape.h"

namespace nncompress::analysis {

namespace {

using Perm = std::vector<int64_t>;

// Readers of `v` other than Shape nodes (which only read its dimensions).
std::vector<ir::Node*> data_readers(const ir::Value* v) {
  std::vector<ir::Node*> out;
  for (const ir::Use& u : v->uses())
    if (u.node->op_type() != "Shape") out.push_back(u.node);
  return out;
}

bool only_reader(const ir::Value* v, const ir::Node* n) {
  const std::vector<ir::Node*> r = data_readers(v);
  return r.size() == 1 && r[0] == n && !v->is_graph_output();
}

// From `v` (of rank `rank`) back through Transposes to the Reshape that made it:
// v = reshape_out.permute(perm).
std::optional<std::pair<ir::Node*, Perm>> back_to_reshape(ir::Value* v, size_t rank) {
  Perm perm(rank);
  for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(i);
  for (int step = 0; step < 4 && v && v->producer(); ++step) {
    if (data_readers(v).size() != 1 || v->is_graph_output()) return std::nullopt;  // only this path reads it
    ir::Node* n = v->producer();
    if (n->op_type() == "Reshape") return std::make_pair(n, perm);
    const Perm p = n->attr_ints("perm", {});
    if (n->op_type() != "Transpose" || p.size() != rank) return std::nullopt;
    Perm composed(rank);
    for (size_t i = 0; i < rank; ++i) composed[i] = p[perm[i]];
    perm = composed;
    v = n->input(0);
  }
  return std::nullopt;
}

// The projection MatMul (constant 2-D weight) behind a head split's input, through a bias Add or
// a scaling by a constant.
ir::Node* projection_of(ir::Value* v) {
  for (int step = 0; step < 3 && v && v->producer(); ++step) {
    ir::Node* n = v->producer();
    if (n->op_type() == "MatMul") {
      const ir::Value* w = n->input(1);
      return w && w->has_initializer() && w->initializer()->dims().size() == 2 ? n : nullptr;
    }
    if (n->op_type() != "Add" && n->op_type() != "Mul" && n->op_type() != "Div") return nullptr;
    ir::Value* next = nullptr;
    for (ir::Value* in : n->inputs()) {
      if (in && in->has_initializer()) continue;
      if (next) return nullptr;  // two computed operands: not a bias or a scale
      next = in;
    }
    if (!next || !only_reader(next, n)) return nullptr;
    v = next;
  }
  return nullptr;
}

// Where element `position` of a Reshape's target shape comes from: a constant (value, index),
// or nullopt when it is computed (only allowed for batch and token counts).
struct Element {
  bool constant = false;
  ir::Value* tensor = nullptr;
  int64_t index = 0, value = 0;
};
std::optional<Element> target_element(ir::Value* target, int64_t position, const ir::TypeMap& types) {
  if (auto c = int_constant(target)) {
    if (position >= static_cast<int64_t>(c->size())) return std::nullopt;
    return Element{true, target, position, (*c)[position]};
  }
  ir::Node* concat = target ? target->producer() : nullptr;
  if (!concat || concat->op_type() != "Concat" || static_cast<int64_t>(concat->inputs().size()) <= position) return std::nullopt;
  for (ir::Value* in : concat->inputs()) {  // one element per input
    const auto s = static_dims(in, types);
    if (!s || s->size() != 1 || (*s)[0] != 1) return std::nullopt;
  }
  ir::Value* in = concat->input(position);
  if (auto c = int_constant(in)) return Element{true, in, 0, (*c)[0]};
  return Element{false, nullptr, 0, 0};
}

// Past a scaling by a scalar (Q * dh^-0.5, written with a constant or a computed scalar).
ir::Value* past_scalar_scaling(ir::Value* v, const ir::TypeMap& types) {
  for (int step = 0; step < 2 && v && v->producer(); ++step) {
    ir::Node* n = v->producer();
    if ((n->op_type() != "Mul" && n->op_type() != "Div") || n->inputs().size() != 2 || data_readers(v).size() != 1) break;
    const auto scalar = [&](const ir::Value* x) {
      const auto s = static_dims(x, types);
      return s && ir::element_count(*s) == 1;
    };
    if (scalar(n->input(1))) v = n->input(0);
    else if (n->op_type() == "Mul" && scalar(n->input(0))) v = n->input(1);
    else break;
  }
  return v;
}

// An integer constant's single value (a scalar or a 1-element vector).
std::optional<int64_t> single_int(const ir::Value* v) {
  const auto c = int_constant(v);
  if (!c || c->size() != 1) return std::nullopt;
  return (*c)[0];
}

// The Shape nodes that a small integer computation (a Slice bound, a Reshape target element)
// reads, through index and arithmetic ops on constants; false when it reads anything else or is
// not small (64 nodes).
bool shape_leaves(ir::Value* v, std::vector<ir::Node*>& leaves) {
  static const std::set<std::string> kIntegerOps = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Cast",
                                                    "Add",    "Sub",       "Mul",     "Div",    "Slice"};
  std::vector<ir::Value*> todo = {v};
  std::set<const ir::Node*> seen;
  while (!todo.empty()) {
    ir::Value* x = todo.back();
    todo.pop_back();
    if (!x) return false;
    if (x->has_initializer()) continue;
    ir::Node* n = x->producer();
    if (!n || !n->in_default_domain()) return false;
    if (!seen.insert(n).second) continue;
    if (seen.size() > 64) return false;
    if (n->op_type() == "Shape") {
      leaves.push_back(n);
      continue;
    }
    if (!kIntegerOps.count(n->op_type())) return false;
    todo.insert(todo.end(), n->inputs().begin(), n->inputs().end());
  }
  return true;
}

void add_head_count(AttentionBlock& b, const HeadCountConstant& h) {
  for (const HeadCountConstant& c : b.head_counts)
    if (c.tensor == h.tensor && c.element == h.element) return;  // one constant shared by Q, K and V's targets
  b.head_counts.push_back(h);
}

// What lies between the scores MatMul (Q K^T) and the Softmax: scalings, masks, biases per head
// (Swin's relative positions) and Reshapes that split or merge the batch around the head axis
// (Swin's shifted-window masks). Every tensor on the way is [..., H, T, T]: the head axis is the
// third from the end. Head counts and per-head constants are checked once H is known.
struct ScoresPath {
  ir::Node* matmul = nullptr;
  std::vector<std::pair<ir::Value*, int64_t>> per_head;  // constants with H on this axis
  std::vector<ir::Node*> reshapes;                       // whose target names H third from the end
};

class Matcher {
 public:
  explicit Matcher(const ir::TypeMap& types) : types_(types) {}

  std::optional<AttentionBlock> match(ir::Node& softmax) {
    ir::Node* av = attention_times_v(softmax);
    const std::optional<ScoresPath> path = av ? scores_path(softmax.input(0), 0) : std::nullopt;
    if (!path) return std::nullopt;
    ir::Node* qk = path->matmul;
    AttentionBlock b;
    if (!fused(qk->input(0), qk->input(1), av->input(1), b)) {
      b = AttentionBlock();
      if (!split(qk->input(0), {0, 2, 1, 3}, b) || !split(qk->input(1), {0, 2, 3, 1}, b) || !split(av->input(1), {0, 2, 1, 3}, b))
        return std::nullopt;
    }
    if (!merge(av->output(0), b, {0, 2, 1, 3}) || !heads_on_path(*path, b)) return std::nullopt;
    b.head_matmuls = {qk, av};
    return b;
  }

  // torch's nn.MultiheadAttention (torchvision's ViT): tokens first, heads merged into the batch.
  //   P = x W_in [+ b] ([T, B, 3 * H * dh]) -> three Slices of the last axis (chunk(3); bounds
  //   constant or computed from P's own width) -> Reshape [T, B * H, dh] -> Transpose (1, 0, 2)
  //   -> Q and V, Transpose (1, 2, 0) -> K^T; Softmax of [B * H, T, T]; attention x V
  //   -> Transpose (1, 0, 2) -> Reshape [T * B, H * dh] -> W_out.
  // P's features are [3, H, dh] as in a fused projection. B * H in the head split targets is
  // written as B times a constant H (rewritten) or as one constant (static batch).
  std::optional<AttentionBlock> match_batch_merged(ir::Node& softmax) {
    ir::Node* av = attention_times_v(softmax);
    const std::optional<ScoresPath> path = av ? scores_path(softmax.input(0), 0) : std::nullopt;
    // Masks and biases on the way would carry B * H on their first axis: not handled.
    if (!path || !path->per_head.empty() || !path->reshapes.empty()) return std::nullopt;
    ir::Node* qk = path->matmul;
    const auto q = back_to_reshape(past_scalar_scaling(qk->input(0), types_), 3);
    const auto k = back_to_reshape(qk->input(1), 3);
    const auto v = back_to_reshape(av->input(1), 3);
    if (!q || !k || !v || q->second != Perm{1, 0, 2} || k->second != Perm{1, 2, 0} || v->second != Perm{1, 0, 2})
      return std::nullopt;
    const std::vector<ir::Node*> reshapes = {q->first, k->first, v->first};
    std::vector<ir::Node*> slices;
    for (ir::Node* r : reshapes) {
      ir::Node* slice = r->input(0) ? r->input(0)->producer() : nullptr;
      if (!slice || slice->op_type() != "Slice" || slice->inputs().size() < 4 || !only_reader(r->input(0), r) ||
          (!slices.empty() && slice->input(0) != slices[0]->input(0)))
        return std::nullopt;
      slices.push_back(slice);
    }
    ir::Value* projected = slices[0]->input(0);
    const auto dims = static_dims(projected, types_);
    if (!dims || dims->size() != 3 || (*dims)[2] <= 0 || (*dims)[2] % 3 != 0 || projected->is_graph_output()) return std::nullopt;
    for (ir::Node* reader : data_readers(projected))
      if (std::find(slices.begin(), slices.end(), reader) == slices.end()) return std::nullopt;
    AttentionBlock b;
    const int64_t features = (*dims)[2];
    for (ir::Node* r : reshapes)
      if (!batch_merged_heads(r, features, slices, b)) return std::nullopt;
    ir::Node* projection = projection_of(projected);
    if (!projection || !chunk_bounds(slices, features, b)) return std::nullopt;
    b.replicas = 3;
    b.projections = {projection};
    b.splits.insert(b.splits.begin(), slices.begin(), slices.end());
    if (!merge(av->output(0), b, {1, 0, 2})) return std::nullopt;
    b.head_matmuls = {qk, av};
    return b;
  }

 private:
  // The MatMul of the attention weights with V, the Softmax's only reader.
  static ir::Node* attention_times_v(ir::Node& softmax) {
    if (softmax.output(0)->uses().size() != 1 || softmax.output(0)->uses()[0].index != 0) return nullptr;
    ir::Node* av = softmax.output(0)->uses()[0].node;
    return av->op_type() == "MatMul" ? av : nullptr;
  }

  // A head split Reshape [T, B, 3 * H * dh / 3] -> [T, B * H, dh]: finds H and dh and the
  // constants naming H. dh may be computed from a width that pruning leaves alone (the block's
  // input), never from P or its thirds.
  bool batch_merged_heads(ir::Node* reshape, int64_t features, const std::vector<ir::Node*>& slices, AttentionBlock& b) {
    const auto out = static_dims(reshape->output(0), types_);
    const auto bh = target_element(reshape->input(1), 1, types_), d = target_element(reshape->input(1), 2, types_);
    if (!out || out->size() != 3 || !bh || !d || reshape->attr_int("allowzero", 0) != 0) return false;
    int64_t head_dim = d->constant ? d->value : (*out)[2];
    if (!d->constant) {
      std::vector<ir::Node*> leaves;
      if (!shape_leaves(reshape->input(1)->producer()->input(2), leaves)) return false;
      for (const ir::Node* leaf : leaves) {
        if (leaf->input(0) == slices[0]->input(0)) return false;
        for (const ir::Node* s : slices)
          if (leaf->input(0) == s->output(0)) return false;
      }
    }
    HeadCountConstant count;
    int64_t heads = 0;
    if (bh->constant) {  // B * H written out: a static batch
      if (head_dim <= 0 || features % (3 * head_dim) != 0) return false;
      heads = features / (3 * head_dim);
      if (bh->value <= 0 || bh->value % heads != 0) return false;
      count = {bh->tensor, bh->index, bh->value / heads};
    } else {  // Mul(B, H), through an Unsqueeze into the target's Concat
      ir::Node* mul = reshape->input(1)->producer()->input(1)->producer();
      if (mul && mul->op_type() == "Unsqueeze") mul = mul->input(0) ? mul->input(0)->producer() : nullptr;
      if (!mul || mul->op_type() != "Mul" || mul->inputs().size() != 2) return false;
      ir::Value* h = single_int(mul->input(1)) ? mul->input(1) : mul->input(0);
      const auto value = single_int(h);
      if (!value || *value <= 0 || h->uses().size() != 1 || features % (3 * *value) != 0) return false;
      heads = *value;
      count = {h, 0, 1};
    }
    if (head_dim > 0 && head_dim * heads * 3 != features) return false;
    if (b.heads && b.heads != heads) return false;
    b.heads = heads;
    b.head_dim = features / (3 * heads);
    add_head_count(b, count);
    return true;
  }

  // The three Slices cut the last axis into thirds 0..T, T..2T, 2T..end (T = features / 3).
  // Constant bounds are rewritten with the heads kept; computed ones must read only P's width,
  // whose Shape nodes then join the block's splits.
  bool chunk_bounds(const std::vector<ir::Node*>& slices, int64_t features, AttentionBlock& b) {
    ir::Value* projected = slices[0]->input(0);
    for (const ir::Node* s : slices) {
      const auto axes = int_constant(s->input(3));
      const auto out = static_dims(s->output(0), types_);
      if (!axes || axes->size() != 1 || ((*axes)[0] != -1 && (*axes)[0] != 2) || !out || out->size() != 3 ||
          (*out)[2] != features / 3)
        return false;
      if (s->inputs().size() > 4 && s->input(4) && int_constant(s->input(4)) != std::vector<int64_t>{1}) return false;
    }
    const auto same = [](ir::Value* a, ir::Value* c) { return a == c || (single_int(a) && single_int(a) == single_int(c)); };
    std::vector<const ir::Node*> order;  // by position along the axis
    for (int64_t r = 0; r < 3; ++r) {
      for (const ir::Node* s : slices)
        if (r == 0 ? single_int(s->input(1)) == 0 : same(s->input(1), order.back()->input(2))) {
          order.push_back(s);
          break;
        }
      if (static_cast<int64_t>(order.size()) != r + 1) return false;
    }
    const int64_t third = features / 3;
    for (int64_t r = 0; r < 3; ++r)
      for (ir::Value* bound : {order[r]->input(1), order[r]->input(2)}) {
        const bool start = bound == order[r]->input(1);
        if (const auto value = single_int(bound)) {
          const int64_t at = start ? r : r + 1;  // in thirds
          if (*value == at * third) {
            if (at == 0) continue;
            for (const ir::Use& u : bound->uses())
              if (std::find(slices.begin(), slices.end(), u.node) == slices.end()) return false;
            add_head_count(b, {bound, 0, at * b.head_dim});
          } else if (start || r != 2 || *value < features) {  // only the last end may run past the axis
            return false;
          }
          continue;
        }
        std::vector<ir::Node*> leaves;
        if (!shape_leaves(bound, leaves)) return false;
        for (ir::Node* leaf : leaves) {
          if (leaf->input(0) != projected) return false;
          if (std::find(b.splits.begin(), b.splits.end(), leaf) == b.splits.end()) b.splits.push_back(leaf);
        }
      }
    return true;
  }

  std::optional<ScoresPath> scores_path(ir::Value* v, int depth) {
    if (!v || !v->producer() || depth > 8) return std::nullopt;
    ir::Node* n = v->producer();
    if (n->op_type() == "MatMul" && n->input(0) && n->input(1) && !n->input(0)->has_initializer() &&
        !n->input(1)->has_initializer()) {
      ScoresPath p;
      p.matmul = n;
      return p;
    }
    if (!n->in_default_domain() || data_readers(v).size() != 1) return std::nullopt;
    if (n->op_type() == "Reshape") {  // [B*W, H, T, T] <-> [B, W, H, T, T]
      const auto in = static_dims(n->input(0), types_), out = static_dims(n->output(0), types_);
      if (!in || !out || in->size() < 3 || out->size() < 3) return std::nullopt;
      for (size_t i = 1; i <= 3; ++i)
        if ((*in)[in->size() - i] <= 0 || (*in)[in->size() - i] != (*out)[out->size() - i]) return std::nullopt;
      auto p = scores_path(n->input(0), depth + 1);
      if (p) p->reshapes.push_back(n);
      return p;
    }
    static const std::set<std::string> kPassing = {"Add", "Sub", "Mul", "Div", "Where", "Cast"};
    if (!kPassing.count(n->op_type())) return std::nullopt;
    for (size_t k = 0; k < n->inputs().size(); ++k) {
      auto p = scores_path(n->input(k), depth + 1);
      if (!p) continue;
      // The other operands broadcast over heads (1 on the head axis) or are constants per head.
      for (size_t j = 0; j < n->inputs().size(); ++j) {
        ir::Value* other = n->input(j);
        if (j == k || !other) continue;
        const auto s = static_dims(other, types_);
        if (!s) return std::nullopt;
        if (s->size() < 3) continue;  // no head axis: broadcasts
        const int64_t axis = static_cast<int64_t>(s->size()) - 3;
        if ((*s)[axis] == 1) continue;
        if (!other->has_initializer()) return std::nullopt;
        p->per_head.push_back({other, axis});
      }
      return p;
    }
    return std::nullopt;
  }

  // The path's Reshapes name H (a constant, rewritten with the heads kept) and its per-head
  // constants have H entries (pruned with the heads).
  bool heads_on_path(const ScoresPath& path, AttentionBlock& b) {
    for (const auto& [constant, axis] : path.per_head) {
      if (constant->initializer()->dims()[axis] != b.heads) return false;
      b.per_head_constants.push_back({constant, axis});
    }
    for (ir::Node* reshape : path.reshapes) {
      const auto out = static_dims(reshape->output(0), types_);
      const auto h = target_element(reshape->input(1), static_cast<int64_t>(out->size()) - 3, types_);
      if (!h || !h->constant || h->value != b.heads) return false;
      b.head_counts.push_back({h->tensor, h->index, 1});
    }
    return true;
  }

  // Q, K^T and V as the thirds of one fused projection's [B, T, 3, H, dh] split.
  bool fused(ir::Value* q, ir::Value* k_t, ir::Value* v, AttentionBlock& b) {
    ir::Node* k_transpose = k_t->producer();
    if (!k_transpose || k_transpose->op_type() != "Transpose" || k_transpose->attr_ints("perm", {}) != Perm{0, 1, 3, 2} ||
        data_readers(k_t).size() != 1)
      return false;
    const auto tq = third(past_scalar_scaling(q, types_)), tk = third(k_transpose->input(0)), tv = third(v);
    if (!tq || !tk || !tv || tq->second != tk->second || tq->second != tv->second) return false;
    if (std::set<int64_t>{tq->first, tk->first, tv->first} != std::set<int64_t>{0, 1, 2}) return false;
    ir::Node* reshape = tq->second;
    const auto in = static_dims(reshape->input(0), types_);
    const auto three = target_element(reshape->input(1), 2, types_), h = target_element(reshape->input(1), 3, types_),
               d = target_element(reshape->input(1), 4, types_);
    if (!in || in->size() != 3 || (*in)[2] <= 0 || !three || !three->constant || three->value != 3 || !h || !h->constant ||
        h->value <= 0 || !d || (d->constant && d->value <= 0))
      return false;
    const int64_t features = (*in)[2];
    if (features % (3 * h->value) != 0 || (d->constant && d->value * 3 * h->value != features)) return false;
    ir::Node* projection = projection_of(reshape->input(0));
    if (!projection || !only_reader(reshape->input(0), reshape)) return false;
    b.heads = h->value;
    b.head_dim = features / (3 * h->value);
    b.replicas = 3;
    b.projections = {projection};
    b.splits = {reshape};
    b.head_counts = {{h->tensor, h->index, 1}};
    return true;
  }

  // (r, the Reshape) when `v` is third r of Reshape [B, T, 3, H, dh] -> Transpose (2, 0, 3, 1, 4):
  // through Squeeze (axis 0) of output r of a Split (axis 0) into three, or a Gather (axis 0) of r.
  std::optional<std::pair<int64_t, ir::Node*>> third(ir::Value* v) {
    ir::Node* n = v ? v->producer() : nullptr;
    if (!n || data_readers(v).size() != 1 || v->is_graph_output()) return std::nullopt;
    ir::Value* stacked = nullptr;
    int64_t r = -1;
    if (n->op_type() == "Gather" && n->attr_int("axis", 0) == 0) {
      const auto index = single_int(n->input(1));
      const auto s = static_dims(n->input(1), types_);
      if (!index || !s || !s->empty()) return std::nullopt;  // a scalar index drops the axis
      r = *index < 0 ? *index + 3 : *index;
      stacked = n->input(0);
    } else if (n->op_type() == "Squeeze") {
      const auto axes = n->inputs().size() > 1 ? int_constant(n->input(1)) : std::optional(n->attr_ints("axes", {}));
      ir::Node* split = n->input(0) ? n->input(0)->producer() : nullptr;
      if (!axes || *axes != std::vector<int64_t>{0} || !split || split->op_type() != "Split" ||
          split->attr_int("axis", 0) != 0 || split->outputs().size() != 3 || data_readers(n->input(0)).size() != 1)
        return std::nullopt;
      if (split->inputs().size() > 1 && split->input(1) && int_constant(split->input(1)) != std::vector<int64_t>{1, 1, 1})
        return std::nullopt;
      for (size_t i = 0; i < 3; ++i)
        if (split->output(i) == n->input(0)) r = static_cast<int64_t>(i);
      stacked = split->input(0);
    }
    ir::Node* t = stacked ? stacked->producer() : nullptr;
    if (r < 0 || r > 2 || !t || t->op_type() != "Transpose" || t->attr_ints("perm", {}) != Perm{2, 0, 3, 1, 4})
      return std::nullopt;
    ir::Node* reshape = t->input(0) ? t->input(0)->producer() : nullptr;
    if (!reshape || reshape->op_type() != "Reshape" || !only_reader(t->input(0), t)) return std::nullopt;
    return std::make_pair(r, reshape);
  }

  // One of Q, K^T, V: back to its head split and projection.
  bool split(ir::Value* v, const Perm& want, AttentionBlock& b) {
    const auto path = back_to_reshape(v, 4);
    if (!path || path->second != want) return false;
    ir::Node* reshape = path->first;
    // [B, T, D] -> [B, T, H, dh]: H and dh from the inferred shape or the target's constants
    // (with a symbolic batch, inference leaves the dimension written as -1 unknown).
    const auto in = static_dims(reshape->input(0), types_), out = static_dims(reshape->output(0), types_);
    const auto h = target_element(reshape->input(1), 2, types_), d = target_element(reshape->input(1), 3, types_);
    if (!in || !out || in->size() != 3 || out->size() != 4 || (*in)[2] <= 0 || !h || !d || !h->constant || !d->constant ||
        (h->value <= 0 && d->value <= 0))
      return false;
    const int64_t features = (*in)[2];
    const int64_t heads = h->value > 0 ? h->value : features / d->value;
    if (heads <= 0 || features % heads != 0 || (d->value > 0 && d->value * heads != features)) return false;
    if ((*out)[2] > 0 && (*out)[2] != heads) return false;
    if (b.heads && (b.heads != heads || b.head_dim != features / heads)) return false;
    b.heads = heads;
    b.head_dim = features / heads;
    ir::Node* projection = projection_of(reshape->input(0));
    if (!projection || !only_reader(reshape->input(0), reshape)) return false;
    if (h->value == b.heads) b.head_counts.push_back({h->tensor, h->index, 1});
    b.projections.push_back(projection);
    b.splits.push_back(reshape);
    return true;
  }

  // attention x V -> Transpose `perm` -> Reshape to features H * dh on the last axis: [B, T, H * dh]
  // after (0, 2, 1, 3), or [T * B, H * dh] after (1, 0, 2) when heads share the batch axis.
  bool merge(ir::Value* v, AttentionBlock& b, const Perm& perm) {
    if (v->uses().size() != 1) return false;
    ir::Node* t = v->uses()[0].node;
    if (t->op_type() != "Transpose" || t->attr_ints("perm", {}) != perm || t->output(0)->uses().size() != 1) return false;
    ir::Node* reshape = t->output(0)->uses()[0].node;
    if (reshape->op_type() != "Reshape" || t->output(0)->uses()[0].index != 0) return false;
    const auto out = static_dims(reshape->output(0), types_);
    const size_t last_axis = perm.size() - 2;
    if (!out || out->size() != last_axis + 1 || ((*out)[last_axis] != b.heads * b.head_dim && (*out)[last_axis] != -1))
      return false;
    const auto last = target_element(reshape->input(1), static_cast<int64_t>(last_axis), types_);
    if (!last) return false;
    if (!last->constant) {  // read from the stream's shape: written as the kept width when pruning
      if (reshape->input(1)->uses().size() != 1) return false;  // a target other Reshapes share
      b.computed_widths.push_back({reshape->input(1)->producer(), last_axis, b.head_dim});
    } else {
      if (last->value != -1 && last->value != b.heads * b.head_dim) return false;
      if (last->value != -1) b.head_counts.push_back({last->tensor, last->index, b.head_dim});
    }
    b.merge = reshape;
    return true;
  }

  const ir::TypeMap& types_;
};

}  // namespace

std::vector<AttentionBlock> find_attention_blocks(const ir::Graph& graph, const ir::TypeMap& types) {
  std::vector<AttentionBlock> blocks;
  Matcher m(types);
  for (const auto& n : graph.nodes()) {
    if (n->op_type() != "Softmax" || !n->in_default_domain()) continue;
    const auto s = static_dims(n->input(0), types);
    // The last axis, written out (before opset 13 the default is 1 and means something else).
    const int64_t axis = n->attr_int("axis", 1);
    if (!s || (s->size() != 4 && s->size() != 3) || (axis != -1 && axis != static_cast<int64_t>(s->size()) - 1)) continue;
    std::optional<AttentionBlock> b = s->size() == 4 ? m.match(*n) : m.match_batch_merged(*n);
    if (b) blocks.push_back(std::move(*b));
  }
  return blocks;
}

}  // namespace nncompress::analysis
