#include "nncompress/eval/onnxruntime_latency.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "nncompress/core/error.h"
#include "nncompress/onnx/model_copy.h"

namespace nncompress::eval {

namespace {

// ONNX Runtime's C API is a table of function pointers (OrtApi) whose order never changes between
// releases: new functions are appended. These are the positions of the few used here, from
// onnxruntime_c_api.h (ORT_API_VERSION 13; any newer library serves version 13).
constexpr uint32_t kApiVersion = 13;
enum Slot : size_t {
  kGetErrorMessage = 2,
  kCreateEnv = 3,
  kCreateSession = 7,
  kCreateSessionFromArray = 8,
  kRun = 9,
  kCreateSessionOptions = 10,
  kSetIntraOpNumThreads = 24,
  kCreateTensorWithDataAsOrtValue = 49,
  kCreateCpuMemoryInfo = 69,
  kReleaseEnv = 92,
  kReleaseStatus = 93,
  kReleaseMemoryInfo = 94,
  kReleaseSession = 95,
  kReleaseValue = 96,
  kReleaseSessionOptions = 100,
};
constexpr int kLogErrorsOnly = 3;  // ORT_LOGGING_LEVEL_ERROR
constexpr int kArenaAllocator = 1, kMemTypeDefault = 0;

struct OrtApiBase {
  const void* (*get_api)(uint32_t version);
  const char* (*version)();
};

// Opaque handles.
struct Status;
struct Env;
struct Session;
struct SessionOptions;
struct MemoryInfo;
struct Value;

// The signatures of the slots used.
using CreateEnvFn = Status* (*)(int, const char*, Env**);
using CreateSessionFn = Status* (*)(const Env*, const char*, const SessionOptions*, Session**);
using CreateSessionFromArrayFn = Status* (*)(const Env*, const void*, size_t, const SessionOptions*, Session**);
using RunFn = Status* (*)(Session*, const void*, const char* const*, const Value* const*, size_t, const char* const*,
                          size_t, Value**);
using CreateTensorFn = Status* (*)(const MemoryInfo*, void*, size_t, const int64_t*, size_t, int, Value**);

class Api {
 public:
  explicit Api(const std::string& library) {
    const std::string file = library.empty() ? "libonnxruntime.so.1" : library;
    handle_ = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept open: ONNX Runtime's threads outlive a dlclose
    if (!handle_) {
      const char* why = dlerror();
      throw bad_input("cannot load ONNX Runtime from '" + file + "': " + (why ? why : "unknown error") +
                      (library.empty() ? " (name its libonnxruntime.so with --ort-library)" : ""));
    }
    auto base = reinterpret_cast<const OrtApiBase* (*)()>(dlsym(handle_, "OrtGetApiBase"));
    if (!base) throw bad_input("'" + file + "' is not ONNX Runtime's library (it has no OrtGetApiBase)");
    table_ = static_cast<const void* const*>(base()->get_api(kApiVersion));
    if (!table_) throw bad_input("ONNX Runtime in '" + file + "' is older than API version 13 (release 1.13)");
    version = base()->version();
  }

  template <typename Function>
  Function fn(Slot slot) const {
    return reinterpret_cast<Function>(const_cast<void*>(table_[slot]));
  }

  // Throws with ONNX Runtime's message when `status` is an error.
  void check(Status* status, const std::string& what, bool user_model) const {
    if (!status) return;
    const std::string message = fn<const char* (*)(const Status*)>(kGetErrorMessage)(status);
    fn<void (*)(Status*)>(kReleaseStatus)(status);
    const std::string text = what + ": " + message;
    throw user_model ? bad_input(text) : internal_error(text);
  }

  std::string version;

 private:
  void* handle_ = nullptr;
  const void* const* table_ = nullptr;
};

// Owns an ONNX Runtime object and releases it through its slot.
template <typename T>
using Owned = std::unique_ptr<T, std::function<void(T*)>>;

template <typename T>
Owned<T> own(const Api& api, T* p, Slot release) {
  return Owned<T>(p, [&api, release](T* q) { api.fn<void (*)(T*)>(release)(q); });
}

// One input's data, shape and element type (ONNX and ONNX Runtime number types alike).
struct Feed {
  std::string name;
  std::vector<int64_t> shape;
  int32_t type = 0;
  std::vector<uint8_t> bytes;
};

std::vector<Feed> random_feeds(const ir::Graph& graph) {
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  std::vector<Feed> feeds;
  for (const ir::Value* v : graph.inputs()) {
    if (v->has_initializer()) continue;
    if (!v->type.is_tensor() || !v->type.shape)
      throw bad_input("input '" + v->name() + "' has no shape to time it with; give one with --input-shape");
    Feed f{v->name(), {}, static_cast<int32_t>(v->type.elem_type), {}};
    int64_t count = 1;
    for (const ir::Dim& d : *v->type.shape) {
      f.shape.push_back(d.value.value_or(1));
      count *= f.shape.back();
    }
    const int bits = ir::bit_width(v->type.elem_type);
    const size_t width = static_cast<size_t>(bits / 8);
    if (bits <= 0 || bits % 8 != 0 || v->type.elem_type == ir::DataType::String)
      throw bad_input("input '" + v->name() + "' has a type ONNX Runtime latency cannot feed");
    f.bytes.assign(static_cast<size_t>(count) * width, 0);  // zeros for integer and boolean inputs
    if (v->type.elem_type == ir::DataType::Float) {
      auto* data = reinterpret_cast<float*>(f.bytes.data());
      for (int64_t i = 0; i < count; ++i) data[i] = normal(rng);
    }
    feeds.push_back(std::move(f));
  }
  return feeds;
}

// A model to run: a file, or serialized bytes named by `path` in messages.
struct Source {
  std::string path;
  const std::string* bytes = nullptr;
};

class Runner {
 public:
  Runner(const Api& api, Env* env, const Source& model, int threads, const std::vector<Feed>& feeds,
         const std::vector<std::string>& outputs, bool user_model)
      : api_(api), user_model_(user_model), session_(nullptr, [](Session*) {}), path_(model.path) {
    SessionOptions* options = nullptr;
    api.check(api.fn<Status* (*)(SessionOptions**)>(kCreateSessionOptions)(&options), "ONNX Runtime session options",
              false);
    const auto owned_options = own(api, options, kReleaseSessionOptions);
    api.check(api.fn<Status* (*)(SessionOptions*, int)>(kSetIntraOpNumThreads)(options, threads),
              "ONNX Runtime threads", false);
    Session* session = nullptr;
    Status* status = model.bytes ? api.fn<CreateSessionFromArrayFn>(kCreateSessionFromArray)(
                                       env, model.bytes->data(), model.bytes->size(), options, &session)
                                 : api.fn<CreateSessionFn>(kCreateSession)(env, model.path.c_str(), options, &session);
    api.check(status, "ONNX Runtime cannot load " + path_, user_model);
    session_ = own(api, session, kReleaseSession);

    MemoryInfo* memory = nullptr;
    api.check(api.fn<Status* (*)(int, int, MemoryInfo**)>(kCreateCpuMemoryInfo)(kArenaAllocator, kMemTypeDefault, &memory),
              "ONNX Runtime memory info", false);
    const auto owned_memory = own(api, memory, kReleaseMemoryInfo);
    for (const Feed& f : feeds) {
      Value* value = nullptr;
      api.check(api.fn<CreateTensorFn>(kCreateTensorWithDataAsOrtValue)(memory, const_cast<uint8_t*>(f.bytes.data()),
                                                                      f.bytes.size(), f.shape.data(), f.shape.size(),
                                                                      f.type, &value),
                "ONNX Runtime input '" + f.name + "'", false);
      inputs_.push_back(own(api, value, kReleaseValue));
      input_names_.push_back(f.name.c_str());
    }
    for (const std::string& o : outputs) output_names_.push_back(o.c_str());
  }

  // One run, in milliseconds.
  double run() {
    std::vector<const Value*> in;
    for (const auto& v : inputs_) in.push_back(v.get());
    std::vector<Value*> out(output_names_.size(), nullptr);
    const auto start = std::chrono::steady_clock::now();
    Status* status = api_.fn<RunFn>(kRun)(session_.get(), nullptr, input_names_.data(), in.data(), in.size(),
                                          output_names_.data(), out.size(), out.data());
    const auto end = std::chrono::steady_clock::now();
    for (Value* v : out)
      if (v) api_.fn<void (*)(Value*)>(kReleaseValue)(v);
    api_.check(status, "ONNX Runtime cannot run " + path_, user_model_);
    return std::chrono::duration<double, std::milli>(end - start).count();
  }

 private:
  const Api& api_;
  bool user_model_;
  Owned<Session> session_;
  std::string path_;
  std::vector<Owned<Value>> inputs_;
  std::vector<const char*> input_names_, output_names_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

OnnxRuntimeLatency onnxruntime_latency(const std::string& library, const std::string& before, const ir::Model& after,
                                       int threads, int runs) {
  if (runs < 1 || threads < 1) throw bad_input("ONNX Runtime latency needs at least one run and one thread");
  static std::map<std::string, std::unique_ptr<Api>> loaded;  // one load per library and process
  std::unique_ptr<Api>& slot = loaded[library];
  if (!slot) slot = std::make_unique<Api>(library);
  const Api& api = *slot;

  Env* env = nullptr;
  api.check(api.fn<CreateEnvFn>(kCreateEnv)(kLogErrorsOnly, "nncompress", &env), "ONNX Runtime environment", false);
  const auto owned_env = own(api, env, kReleaseEnv);
  const std::optional<onnxio::ModelCopy> serialized = onnxio::ModelCopy::of(after);
  if (!serialized) throw bad_input("ONNX Runtime latency takes models under 2 GiB (this one is handed over in memory)");
  const std::vector<Feed> feeds = random_feeds(after.graph);
  std::vector<std::string> outputs;
  for (const ir::Value* v : after.graph.outputs()) outputs.push_back(v->name());

  OnnxRuntimeLatency result;
  result.library = library.empty() ? "libonnxruntime.so.1" : library;
  result.version = api.version;
  result.threads = threads;
  result.runs = runs;
  {
    Runner a(api, env, {before}, threads, feeds, outputs, true);
    Runner b(api, env, {"the compressed model", &serialized->bytes()}, threads, feeds, outputs, false);
    for (int i = 0; i < 3; ++i) a.run(), b.run();  // warm-up: allocations, prepacked weights
    std::vector<double> ta, tb;
    for (int i = 0; i < runs; ++i) {  // alternated, so drift on a busy machine hits both alike
      if (i % 2) tb.push_back(b.run()), ta.push_back(a.run());
      else ta.push_back(a.run()), tb.push_back(b.run());
    }
    result.before_ms = median(ta);
    result.after_ms = median(tb);
  }
  return result;
}

}  // namespace nncompress::eval
