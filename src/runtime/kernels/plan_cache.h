#pragma once
// Prepared oneDNN primitives kept per weight tensor (kernels/conv_blocked.cpp, kernels/matmul_dnnl.cpp)
// or per shape (KeyedPlans).
//
// Building a primitive per batch (a primitive descriptor, layout queries) and reordering the
// weights into the layout it wants cost mobilenet_v2 at batch 1 about a tenth of its time and
// resnet18 ~20 ms per batch of 32. A plan is kept while its weight and bias are the same tensors
// at the same versions (an optimizer step changes a version in place) and the call's signature
// (shapes, geometry, fused epilogue) is unchanged; otherwise it is rebuilt.
#include <ATen/core/Tensor.h>
#include <c10/util/intrusive_ptr.h>

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace nncompress::runtime::kernels {

template <typename Signature, typename Plan>
class PlanCache {
 public:
  using Build = std::shared_ptr<const Plan> (*)(const at::Tensor& w, const at::Tensor& bias, const Signature& sig);

  std::shared_ptr<const Plan> get(const at::Tensor& w, const at::Tensor& bias, const Signature& sig, Build build) {
    if (w.is_inference() || (bias.defined() && bias.is_inference()))
      return build(w, bias, sig);  // no version counter to trust
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[w.unsafeGetTensorImpl()];
    // The weak references keep the keys' addresses from being reused by other tensors while held.
    if (!e.plan || !e.weight.same(w) || !e.bias.same(bias) || !(e.signature == sig)) {
      e = Entry{Source(w), Source(bias), sig, build(w, bias, sig)};
      forget_dead();
    }
    return e.plan;
  }

 private:
  // A tensor a plan was built from, and the version it had.
  struct Source {
    c10::weak_intrusive_ptr<c10::TensorImpl> impl{c10::intrusive_ptr<c10::TensorImpl>()};
    int64_t version = 0;
    bool defined = false;

    Source() = default;
    explicit Source(const at::Tensor& t) {
      if (!t.defined()) return;
      impl = c10::weak_intrusive_ptr<c10::TensorImpl>(t.getIntrusivePtr());
      version = t._version();
      defined = true;
    }
    bool same(const at::Tensor& t) const {
      if (!t.defined()) return !defined;
      return defined && !impl.expired() && impl._unsafe_get_target() == t.unsafeGetTensorImpl() && version == t._version();
    }
    bool dead() const { return defined && impl.expired(); }
  };
  struct Entry {
    Source weight, bias;
    Signature signature;
    std::shared_ptr<const Plan> plan;
  };

  // Weights computed per batch (a DequantizeLinear's output) die after it: drop their entries.
  void forget_dead() {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.weight.dead() || it->second.bias.dead() ? entries_.erase(it) : std::next(it);
  }

  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
};

// Primitives of ops without weights (products of two activations, Softmax), kept by what they
// are built from (shapes, strides, axis; an ordered Key). A model has a few such keys, the same
// every batch; the cap bounds what varying batch sizes could add.
template <typename Key, typename Plan>
class KeyedPlans {
 public:
  template <typename Build>
  std::shared_ptr<const Plan> get(const Key& key, Build build) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kept_.find(key);
    if (it != kept_.end()) return it->second;
    if (kept_.size() >= 256) kept_.clear();
    std::shared_ptr<const Plan> plan = build(key);
    kept_.emplace(key, plan);
    return plan;
  }

 private:
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<const Plan>> kept_;
};

// The calling thread's scratch memory for oneDNN, grown as needed and kept: a primitive runs to
// its end on the thread that started it, so one buffer per thread serves every primitive.
void* scratch_memory(size_t bytes);

}  // namespace nncompress::runtime::kernels
