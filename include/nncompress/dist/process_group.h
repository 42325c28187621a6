#pragma once
// The process-wide group of data-parallel ranks, like torch.distributed's default group: LibTorch's
// own c10d engine (ProcessGroupGloo over a TCPStore rendezvous), no home-made transport. Each rank
// is one nncompress process holding the whole model; training sums gradients across the group.
// Without init() (the usual single process) every query answers "one rank" and nothing is sent.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nncompress::dist {

struct GroupOptions {
  std::string master_addr = "127.0.0.1";  // where rank 0 (or the launcher) serves the store
  int master_port = 29500;
  int rank = 0;
  int world_size = 1;
  // Bounds the rendezvous and every collective: a rank that dies or never joins ends the others
  // with an error after at most this long.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // The store is served by a launcher (StoreServer), so every rank connects as a client; otherwise
  // rank 0 serves it on master_port.
  bool launcher_store = false;
  // BatchNorm in training normalizes by the global batch's statistics (SyncBatchNorm: N ranks train
  // what one process would, at the price of two exchanges per BatchNorm per step), or by each
  // rank's own (PyTorch DDP's default; faster, results depend on the number of ranks).
  bool sync_batch_norm = true;
};

// Joins the group (blocks until every rank has joined, or throws after the timeout). Throws
// bad_input for what the user can fix: a rank outside [0, world size), a port in use, a master that
// cannot be reached, ranks missing at the rendezvous.
void init(const GroupOptions& options);
// Leaves the group (idempotent); the process is single again.
void shutdown();

bool active();  // more than one rank
int rank();
int world_size();
bool sync_batch_norm();

// Sums every tensor in place across the ranks: one collective over a flat buffer per dtype (a
// bucket), so the cost is one round trip per call, not per tensor. Undefined tensors are skipped.
// Throws internal_error naming this rank when a peer is gone or the timeout passes.
void all_reduce_sum(std::vector<at::Tensor>& tensors);
// Differentiable sum across ranks: the backward sums the incoming gradients across ranks (each
// rank's loss depends on every rank's contribution). SyncBatchNorm's statistics use it.
at::Tensor all_reduce_sum_differentiable(const at::Tensor& x);

// What this process has exchanged since it joined: for reports and the scaling estimate
// (docs/distributed.md).
struct Traffic {
  int64_t exchanges = 0;  // collectives
  int64_t bytes = 0;      // summed buffers (each rank sends and receives about twice this in a ring)
  double seconds = 0;     // waiting for them, end to end
};
Traffic traffic();

// A store for ranks to rendezvous at, served by a launcher process on a free loopback port (chosen
// by the kernel, so two launches never race for one).
class StoreServer {
 public:
  explicit StoreServer(std::chrono::milliseconds timeout);
  ~StoreServer();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nncompress::dist
