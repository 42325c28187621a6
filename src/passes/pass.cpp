#include "nncompress/passes/pass.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "nncompress/core/error.h"
#include "nncompress/passes/registry.h"

namespace nncompress::passes {

namespace {

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string joined(const std::vector<std::string>& items) {
  std::string all;
  for (const std::string& s : items) all += (all.empty() ? "" : ", ") + s;
  return all;
}

bool within(const OptionSpec& spec, double v) {
  if (spec.min && (spec.min->inclusive ? v < spec.min->value : v <= spec.min->value)) return false;
  if (spec.max && (spec.max->inclusive ? v > spec.max->value : v >= spec.max->value)) return false;
  return true;
}

}  // namespace

const char* kind_name(OptionKind k) {
  switch (k) {
    case OptionKind::Number: return "number";
    case OptionKind::Integer: return "integer";
    case OptionKind::Boolean: return "boolean";
    case OptionKind::Text: return "text";
    case OptionKind::List: return "list";
  }
  return "?";
}

OptionSpec option(std::string name, OptionKind kind, std::string default_value, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.default_value = std::move(default_value);
  s.help = std::move(help);
  return s;
}

OptionSpec& OptionSpec::at_least(double v, bool inclusive) {
  min = Bound{v, inclusive};
  return *this;
}

OptionSpec& OptionSpec::at_most(double v, bool inclusive) {
  max = Bound{v, inclusive};
  return *this;
}

OptionSpec& OptionSpec::range(double lo, double hi, bool hi_inclusive) {
  return at_least(lo).at_most(hi, hi_inclusive);
}

OptionSpec& OptionSpec::one_of(std::vector<std::string> values) {
  choices = std::move(values);
  return *this;
}

OptionSpec& OptionSpec::also(std::string alias) {
  aliases.push_back(std::move(alias));
  return *this;
}

std::string OptionSpec::constraint() const {
  if (!choices.empty()) return "one of " + joined(choices);
  if (min && max)
    return std::string(min->inclusive ? "[" : "(") + number_text(min->value) + ", " + number_text(max->value) +
           (max->inclusive ? "]" : ")");
  if (min) return (min->inclusive ? ">= " : "> ") + number_text(min->value);
  if (max) return (max->inclusive ? "<= " : "< ") + number_text(max->value);
  return "";
}

std::optional<std::string> check_value(const OptionSpec& spec, const std::string& value) {
  const std::string quoted = "'" + value + "'";
  char* end = nullptr;
  switch (spec.kind) {
    case OptionKind::Number: {
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end || !std::isfinite(v)) return quoted + " is not a number";
      if (!within(spec, v)) return value + " is not " + (spec.min && spec.max ? "in " : "") + spec.constraint();
      break;
    }
    case OptionKind::Integer: {
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end) return quoted + " is not an integer";
      if (errno == ERANGE) return quoted + " is out of the integer range";
      if (!within(spec, static_cast<double>(v))) return value + " is not " + (spec.min && spec.max ? "in " : "") + spec.constraint();
      break;
    }
    case OptionKind::Boolean:
      if (value != "true" && value != "false") return quoted + " is not true or false";
      break;
    case OptionKind::Text:
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end())
        return quoted + " is not " + spec.constraint();
      break;
    case OptionKind::List:
      break;
  }
  return std::nullopt;
}

const OptionSpec* PassInfo::find_option(const std::string& option_name) const {
  for (const OptionSpec& o : options)
    if (o.name == option_name || std::find(o.aliases.begin(), o.aliases.end(), option_name) != o.aliases.end()) return &o;
  return nullptr;
}

OptionValues::OptionValues(const PassInfo& pass, std::map<std::string, std::string> given)
    : pass_(&pass), given_(std::move(given)) {}

const std::string& OptionValues::raw(const std::string& name) const {
  const auto it = given_.find(name);
  if (it != given_.end()) return it->second;
  const OptionSpec* spec = pass_->find_option(name);
  if (!spec) throw internal_error("pass '" + pass_->name + "' has no option '" + name + "'");
  return spec->default_value;
}

bool OptionValues::has(const std::string& name) const { return !raw(name).empty(); }

double OptionValues::number(const std::string& name) const { return std::strtod(raw(name).c_str(), nullptr); }

int64_t OptionValues::integer(const std::string& name) const { return std::strtoll(raw(name).c_str(), nullptr, 10); }

bool OptionValues::boolean(const std::string& name) const { return raw(name) == "true"; }

std::string OptionValues::text(const std::string& name) const { return raw(name); }

std::vector<std::string> OptionValues::list(const std::string& name) const {
  std::vector<std::string> items;
  std::stringstream in(raw(name));
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

}  // namespace nncompress::passes
