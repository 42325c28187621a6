#include "nncompress/dist/process_group.h"

#include <ATen/ATen.h>
#include <glog/logging.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL  // a CUDA build of LibTorch; Debian's is CPU-only, so this is never compiled here
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "nncompress/core/error.h"

namespace nncompress::dist {

namespace {

struct Group {
  int rank = 0, world_size = 1;
  bool sync_batch_norm = true;
  std::chrono::milliseconds timeout{0};
  Traffic traffic;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> gloo;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroup> nccl;  // for CUDA tensors
#endif
};

Group& group() {
  static Group g;
  return g;
}

std::string seconds(std::chrono::milliseconds t) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(t.count()) / 1000);
  return text;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// The network device Gloo's pairs bind: the loopback for a loopback master (every rank on this
// host), else the interface named by GLOO_SOCKET_IFNAME (as PyTorch), else the hostname's address.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master) {
  if (is_loopback(master)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Runs a collective, turning c10d's and Gloo's failures (a peer closed its connection, the timeout
// passed) into one error that says which rank saw it.
template <typename F>
void collective(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw internal_error("rank " + std::to_string(group().rank) + " of " + std::to_string(group().world_size) + ": " + what +
                         " failed (a peer rank died or did not answer within " + seconds(group().timeout) +
                         "): " + first_line(e.what()));
  }
}

c10d::ProcessGroup& group_for(const at::Tensor& t) {
#ifdef USE_C10D_NCCL
  if (t.is_cuda() && group().nccl) return *group().nccl;
#endif
  if (!t.device().is_cpu()) throw internal_error("data-parallel collectives here take CPU tensors (this LibTorch has no NCCL)");
  return *group().gloo;
}

void all_reduce_flat(at::Tensor& flat) {
  std::vector<at::Tensor> one = {flat};
  const auto start = std::chrono::steady_clock::now();
  collective("all-reduce", [&] { group_for(flat).allreduce(one)->wait(group().timeout); });
  Traffic& t = group().traffic;
  ++t.exchanges;
  t.bytes += flat.numel() * static_cast<int64_t>(flat.element_size());
  t.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& x) {
    at::Tensor y = x.detach().clone().contiguous();
    all_reduce_flat(y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*, torch::autograd::variable_list g) {
    at::Tensor sum = g.at(0).detach().clone().contiguous();
    all_reduce_flat(sum);
    return {sum};
  }
};

}  // namespace

void init(const GroupOptions& o) {
  if (o.world_size < 1) throw bad_input("the world size must be at least 1 (got " + std::to_string(o.world_size) + ")");
  if (o.rank < 0 || o.rank >= o.world_size)
    throw bad_input("rank " + std::to_string(o.rank) + " is outside a world of " + std::to_string(o.world_size) +
                    " (ranks are 0.." + std::to_string(o.world_size - 1) + ")");
  if (o.master_port < 1 || o.master_port > 65535) throw bad_input("the master port must be in 1..65535 (got " + std::to_string(o.master_port) + ")");
  shutdown();
  if (o.world_size == 1) return;
  // c10d logs its socket errors through glog before we turn them into one message of our own.
  FLAGS_minloglevel = google::GLOG_FATAL;
  Group& g = group();
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0 && !o.launcher_store;
    so.waitWorkers = false;  // the process group's own rendezvous waits for every rank
    so.timeout = o.timeout;
    g.store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    const std::string msg = first_line(e.what());
    if (o.rank == 0 && !o.launcher_store)
      throw bad_input("rank 0 cannot serve the rendezvous at " + where + " (is the port in use?): " + msg);
    throw bad_input("rank " + std::to_string(o.rank) + " cannot reach the rendezvous at " + where + " within " +
                    seconds(o.timeout) + ": " + msg);
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
    options->devices.push_back(gloo_device(o.master_addr));
    g.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(g.store, o.rank, o.world_size, options);
  } catch (const std::exception& e) {
    g.store.reset();
    throw bad_input("rank " + std::to_string(o.rank) + ": not every one of the " + std::to_string(o.world_size) +
                    " ranks joined at " + where + " within " + seconds(o.timeout) +
                    " (check WORLD_SIZE / --world-size and that every rank was started): " + first_line(e.what()));
  }
#ifdef USE_C10D_NCCL
  if (at::hasCUDA()) g.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(g.store, o.rank, o.world_size);
#endif
  g.rank = o.rank;
  g.world_size = o.world_size;
  g.timeout = o.timeout;
  g.sync_batch_norm = o.sync_batch_norm;
}

void shutdown() {
  Group& g = group();
  g = Group{};
}

bool active() { return group().world_size > 1; }
int rank() { return group().rank; }
int world_size() { return group().world_size; }
bool sync_batch_norm() { return group().sync_batch_norm; }
Traffic traffic() { return group().traffic; }

void all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (!active()) return;
  // One bucket per dtype and device, in first-seen order (the same on every rank).
  std::vector<std::pair<std::string, std::vector<at::Tensor*>>> buckets;
  for (at::Tensor& t : tensors) {
    if (!t.defined()) continue;
    const std::string key = std::string(c10::toString(t.scalar_type())) + "/" + t.device().str();
    auto it = std::find_if(buckets.begin(), buckets.end(), [&](const auto& b) { return b.first == key; });
    if (it == buckets.end()) it = buckets.insert(buckets.end(), {key, {}});
    it->second.push_back(&t);
  }
  for (auto& [key, members] : buckets) {
    std::vector<at::Tensor> flat_parts;
    for (const at::Tensor* t : members) flat_parts.push_back(t->detach().reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    all_reduce_flat(flat);
    int64_t offset = 0;
    for (at::Tensor* t : members) {
      const int64_t n = t->numel();
      t->detach().copy_(flat.narrow(0, offset, n).view(t->sizes()));
      offset += n;
    }
  }
}

at::Tensor all_reduce_sum_differentiable(const at::Tensor& x) {
  if (!active()) return x;
  return AllReduceSum::apply(x);
}

struct StoreServer::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

StoreServer::StoreServer(std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions so;
  so.port = 0;  // the kernel picks a free port
  so.isServer = true;
  so.waitWorkers = false;
  so.timeout = timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  } catch (const std::exception& e) {
    throw internal_error("cannot serve a rendezvous store on the loopback: " + first_line(e.what()));
  }
}

StoreServer::~StoreServer() = default;

int StoreServer::port() const { return impl_->store->getPort(); }

}  // namespace nncompress::dist
