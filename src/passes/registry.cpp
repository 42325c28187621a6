#include "nncompress/passes/registry.h"

#include "nncompress/core/error.h"

namespace nncompress::passes {

#define NNC_PASS(fn) const PassInfo& fn();
#include "pass_list.def"
#undef NNC_PASS

const std::vector<const PassInfo*>& all_passes() {
  static const std::vector<const PassInfo*> passes = {
#define NNC_PASS(fn) &fn(),
#include "pass_list.def"
#undef NNC_PASS
  };
  return passes;
}

const PassInfo* find_pass(const std::string& name) {
  for (const PassInfo* p : all_passes())
    if (p->name == name) return p;
  return nullptr;
}

std::string pass_names(const std::string& prefix) {
  std::string all;
  for (const PassInfo* p : all_passes())
    if (p->name.rfind(prefix, 0) == 0) all += (all.empty() ? "" : ", ") + p->name;
  return all;
}

OptionValues validate_options(const PassInfo& pass, const std::map<std::string, std::string>& given,
                              const OptionPlace& place) {
  std::map<std::string, std::string> canonical, spelled;  // aliases under the option's own name
  for (const auto& [name, value] : given) {
    const OptionSpec* spec = pass.find_option(name);
    if (!spec) {
      std::string names;
      for (const OptionSpec& o : pass.options) names += (names.empty() ? "" : ", ") + o.name;
      throw bad_input(place.value(name) + ": no such option (" + pass.name + " has " + names + ")");
    }
    if (const auto problem = check_value(*spec, value)) throw bad_input(place.value(name) + ": " + *problem);
    if (!spelled.emplace(spec->name, name).second)
      throw bad_input(place.value(name) + ": the same option as " + place.value(spelled[spec->name]));
    canonical[spec->name] = value;
  }
  OptionValues values(pass, canonical);
  if (pass.check) {
    const std::vector<std::string> problems = pass.check(values, place.name);
    if (!problems.empty()) throw bad_input(place.step + ": " + problems.front());
  }
  return values;
}

}  // namespace nncompress::passes
