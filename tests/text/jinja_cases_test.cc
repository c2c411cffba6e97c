// The interpreter against Python jinja2 3.1 rendering (transformers' environment), on templates
// covering constructs beyond the Qwen template: tests/data/chat_template/jinja_cases.json, made by
// make_jinja_cases.py in the same folder.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "text/jinja_template.h"
#include "util/error.h"

namespace qwenvl::text::jinja {
namespace {

const std::string kDir = std::string(QWENVL_TEST_DATA) + "/chat_template";

nlohmann::ordered_json LoadCases() {
  std::ifstream in(kDir + "/jinja_cases.json");
  EXPECT_TRUE(in.good());
  return nlohmann::ordered_json::parse(in);
}

// A case's template: inline, or a file under templates/ (the model-family style templates).
std::string CaseTemplate(const nlohmann::ordered_json& c) {
  if (c.contains("template")) return c["template"].get<std::string>();
  std::ifstream in(kDir + "/templates/" + c["template_file"].get<std::string>());
  EXPECT_TRUE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(JinjaCases, MatchPythonJinja2) {
  nlohmann::ordered_json data = LoadCases();
  Value shared_context = FromJson(data["context"]);
  ASSERT_GE(data["cases"].size(), 100u);
  for (const auto& c : data["cases"]) {
    std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    Value context = c.contains("context") ? FromJson(c["context"]) : shared_context;
    if (c.contains("error")) {
      EXPECT_THROW(Template::Parse(CaseTemplate(c)).Render(context), qwenvl::Error);
      continue;
    }
    try {
      std::string got = Template::Parse(CaseTemplate(c)).Render(context);
      EXPECT_EQ(got, c["expected"].get<std::string>());
    } catch (const qwenvl::Error& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

}  // namespace
}  // namespace qwenvl::text::jinja
