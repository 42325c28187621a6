// The pass registry: every declaration is consistent, validation names what the user wrote, and
// recipes accept exactly the declared options with the declared defaults and ranges.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "nncompress/core/error.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/registry.h"
#include "nncompress/pipeline/recipe.h"

using namespace nncompress;
using passes::OptionKind;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string write_recipe(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

passes::OptionPlace cli_place() {
  passes::OptionPlace p;
  p.value = [](const std::string& o) { return "--" + o; };
  p.name = p.value;
  p.step = "--method x";
  return p;
}

// A value inside the option's range (its default when it has one).
std::string valid_value(const passes::OptionSpec& o) {
  if (!o.default_value.empty()) return o.default_value;
  switch (o.kind) {
    case OptionKind::Number: return o.max ? std::to_string(o.max->value * (o.max->inclusive ? 1.0 : 0.5)) : "1";
    case OptionKind::Integer: return o.min ? std::to_string(static_cast<int64_t>(o.min->value) + 1) : "1";
    case OptionKind::Boolean: return "false";
    case OptionKind::Text: return o.choices.empty() ? "x" : o.choices.front();
    case OptionKind::List: return "a,b";
  }
  return "";
}

}  // namespace

TEST(PassRegistry, EveryDeclarationIsConsistent) {
  std::set<std::string> names;
  ASSERT_GE(passes::all_passes().size(), 8u);
  for (const passes::PassInfo* p : passes::all_passes()) {
    SCOPED_TRACE(p->name);
    EXPECT_TRUE(names.insert(p->name).second) << "pass declared twice";
    EXPECT_FALSE(p->summary.empty());
    EXPECT_FALSE(p->needs_text.empty());
    EXPECT_NE(p->apply, nullptr);
    EXPECT_EQ(passes::find_pass(p->name), p);
    std::set<std::string> options;
    for (const passes::OptionSpec& o : p->options) {
      SCOPED_TRACE(o.name);
      EXPECT_TRUE(options.insert(o.name).second) << "option declared twice";
      EXPECT_FALSE(o.help.empty());
      if (!o.default_value.empty()) {
        EXPECT_EQ(passes::check_value(o, o.default_value), std::nullopt) << "default out of range";
      }
      if (o.kind == OptionKind::Boolean) {
        EXPECT_EQ(o.default_value, "false") << "boolean flags switch something on";
      }
      if (!o.choices.empty()) {
        EXPECT_EQ(o.kind, OptionKind::Text);
      }
      for (const std::string& alias : o.aliases) {
        EXPECT_EQ(p->find_option(alias), &o) << alias;
        EXPECT_TRUE(options.insert(alias).second) << "alias " << alias << " is also an option";
      }
    }
    // Training passes share one declaration of the training options.
    if (options.count("epochs")) {
      for (const char* t : {"epoch-samples", "lr", "distill"}) EXPECT_TRUE(options.count(t)) << t;
    }
  }
}

TEST(PassRegistry, OneOptionNameMeansOneThingAcrossPasses) {
  // prune and quantize make one flag of each option name over their passes: same kind and range.
  std::map<std::string, const passes::OptionSpec*> seen;
  for (const passes::PassInfo* p : passes::all_passes())
    for (const passes::OptionSpec& o : p->options) {
      auto [it, fresh] = seen.emplace(o.name, &o);
      if (fresh) continue;
      EXPECT_EQ(it->second->kind, o.kind) << p->name << "." << o.name;
      EXPECT_EQ(it->second->constraint(), o.constraint()) << p->name << "." << o.name;
    }
}

TEST(PassRegistry, TheLearningRateHasOneDefaultPerPass) {
  // The drift issue 16 found: quantize's lr 0.005 against the recipes' 0.01 for the same pass.
  const passes::OptionValues focused(*passes::find_pass("quant.focused"), {});
  EXPECT_DOUBLE_EQ(focused.number("lr"), 0.005);
  const passes::OptionValues channels(*passes::find_pass("prune.channels"), {});
  EXPECT_DOUBLE_EQ(channels.number("lr"), 0.01);
}

TEST(OptionValidation, RangesKindsAndChoicesNameTheValue) {
  const passes::PassInfo& channels = *passes::find_pass("prune.channels");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"ratio", "1.5"}}, cli_place()); }),
            "--ratio: 1.5 is not in [0, 1)");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"ratio", "half"}}, cli_place()); }),
            "--ratio: 'half' is not a number");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"ratio", "nan"}}, cli_place()); }),
            "--ratio: 'nan' is not a number");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"round-to", "0"}}, cli_place()); }),
            "--round-to: 0 is not in [1, 4096]");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"round-to", "2.5"}}, cli_place()); }),
            "--round-to: '2.5' is not an integer");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"target-macs", "0"}}, cli_place()); }),
            "--target-macs: 0 is not in (0, 1]");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"criterion", "l3"}}, cli_place()); }),
            "--criterion: 'l3' is not one of l1, l2, bn-scale, fpgm, taylor");
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"prune-first-conv", "yes"}}, cli_place()); }),
            "--prune-first-conv: 'yes' is not true or false");
  // Combinations are the pass's own rule, worded with the front end's spelling.
  EXPECT_EQ(message_of([&] { passes::validate_options(channels, {{"target-macs", "0.5"}, {"target-params", "0.5"}}, cli_place()); }),
            "--method x: give --target-macs or --target-params, not both");
  const passes::OptionValues v = passes::validate_options(channels, {{"ratio", "0.25"}, {"keep", "a,b"}}, cli_place());
  EXPECT_DOUBLE_EQ(v.number("ratio"), 0.25);
  EXPECT_EQ(v.list("keep"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(v.text("criterion"), "l1");
  EXPECT_FALSE(v.has("target-macs"));
}

TEST(Recipe, InvalidValueInTheLastStepNamesFileLineAndKey) {
  const std::string path = write_recipe("last-step.yaml",
                                        "name: r\n"
                                        "steps:\n"
                                        "  - pass: prune.magnitude\n"
                                        "    sparsity: 0.5\n"
                                        "  - pass: finetune\n"
                                        "    epochs: 1\n"
                                        "  - pass: prune.channels\n"
                                        "    ratio: 1.5\n");
  EXPECT_EQ(message_of([&] { pipeline::load_recipe(path); }), path + ":8: prune.channels.ratio: 1.5 is not in [0, 1)");
}

TEST(Recipe, CombinationsAndUnknownKeys) {
  const std::string mixed = write_recipe("mixed.yaml", "steps:\n  - pass: quant.mixed\n    min-bits: 6\n    max-bits: 4\n");
  EXPECT_EQ(message_of([&] { pipeline::load_recipe(mixed); }), mixed + ":2: step 1 (quant.mixed): min-bits must not exceed max-bits");
  const std::string gradual = write_recipe("gradual.yaml", "steps:\n  - pass: prune.magnitude\n    gradual: true\n");
  EXPECT_EQ(message_of([&] { pipeline::load_recipe(gradual); }), gradual + ":2: step 1 (prune.magnitude): gradual needs epochs > 0");
  const std::string typo = write_recipe("typo.yaml", "steps:\n  - pass: quant.int8\n    calibraton: entropy\n");
  EXPECT_NE(message_of([&] { pipeline::load_recipe(typo); }).find(typo + ":3: quant.int8.calibraton: no such option"),
            std::string::npos);
}

TEST(Recipe, EveryDeclaredOptionIsARecipeKey) {
  // Each option of each pass, written alone (with what its combination rules require), loads and
  // reads back as written.
  for (const passes::PassInfo* p : passes::all_passes())
    for (const passes::OptionSpec& o : p->options) {
      SCOPED_TRACE(p->name + "." + o.name);
      std::map<std::string, std::string> written = {{o.name, o.kind == OptionKind::Boolean ? "true" : valid_value(o)}};
      if (p->name == "prune.autoprune" && (o.name == "target-macs" || o.name == "target-params" || o.name == "round-to"))
        written["granularity"] = "channels";
      if (o.name == "gradual") written["epochs"] = "1";
      if (p->name == "quant.mixed" && o.name != "avg-bits" && o.name != "max-bytes") written["avg-bits"] = "4";
      std::string text = "steps:\n  - pass: " + p->name + "\n";
      for (const auto& [key, value] : written) text += "    " + key + ": " + value + "\n";
      const pipeline::Recipe r = pipeline::load_recipe(write_recipe("one-option.yaml", text));
      ASSERT_EQ(r.steps.size(), 1u);
      EXPECT_EQ(r.steps[0].options, written);
    }
}

TEST(Needs, EachStepNeedsWhatItsOptionsImply) {
  auto recipe = [](const std::string& pass, std::map<std::string, std::string> options) {
    pipeline::Recipe r;
    r.source = "r.yaml";
    r.steps.push_back({pass, std::move(options), 4});
    return r;
  };
  pipeline::Available nothing;
  pipeline::Available unlabeled;
  unlabeled.training_data = unlabeled.calibration_data = true;
  pipeline::Available labeled = unlabeled;
  labeled.training_labels = true;

  EXPECT_NO_THROW(pipeline::check_needs(recipe("prune.channels", {}), nothing));
  EXPECT_EQ(message_of([&] { pipeline::check_needs(recipe("prune.channels", {{"criterion", "taylor"}}), unlabeled); }),
            "r.yaml:4: step 1 (prune.channels) needs labels in --data (or distill: true)");
  EXPECT_NO_THROW(pipeline::check_needs(recipe("prune.channels", {{"criterion", "taylor"}}), labeled));
  EXPECT_EQ(message_of([&] { pipeline::check_needs(recipe("quant.int8", {}), nothing); }),
            "r.yaml:4: step 1 (quant.int8) needs calibration data: give --data");
  EXPECT_NO_THROW(pipeline::check_needs(recipe("quant.int8", {}), unlabeled));
  EXPECT_EQ(message_of([&] { pipeline::check_needs(recipe("finetune", {}), unlabeled); }),
            "r.yaml:4: step 1 (finetune) needs labels in --data (or distill: true)");
  EXPECT_NO_THROW(pipeline::check_needs(recipe("finetune", {{"distill", "true"}}), unlabeled));
  EXPECT_TRUE(passes::training_needs(pipeline::Step{"finetune", {{"distill", "true"}}, 0}.values()).teacher);

  pipeline::Recipe two = recipe("quant.int8", {});
  two.steps.push_back({"prune.magnitude", {}, 6});
  EXPECT_EQ(message_of([&] { pipeline::check_needs(two, labeled); }),
            "r.yaml:6: step 2 (prune.magnitude) follows quant.int8, which must be the last step");
}
