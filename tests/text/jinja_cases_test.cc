// The interpreter against Python jinja2 3.1 rendering (transformers' environment), on templates
// covering constructs beyond the Qwen template: tests/data/chat_template/jinja_cases.json, made by
// make_jinja_cases.py in the same folder.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "text/jinja_template.h"
#include "util/error.h"

namespace qwenvl::text::jinja {
namespace {

nlohmann::ordered_json LoadCases() {
  std::ifstream in(std::string(QWENVL_TEST_DATA) + "/chat_template/jinja_cases.json");
  EXPECT_TRUE(in.good());
  return nlohmann::ordered_json::parse(in);
}

TEST(JinjaCases, MatchPythonJinja2) {
  nlohmann::ordered_json data = LoadCases();
  Value context = FromJson(data["context"]);
  ASSERT_GE(data["cases"].size(), 50u);
  for (const auto& c : data["cases"]) {
    std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    if (c.contains("error")) {
      EXPECT_THROW(Template::Parse(c["template"].get<std::string>()).Render(context),
                   qwenvl::Error);
      continue;
    }
    try {
      std::string got = Template::Parse(c["template"].get<std::string>()).Render(context);
      EXPECT_EQ(got, c["expected"].get<std::string>());
    } catch (const qwenvl::Error& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

}  // namespace
}  // namespace qwenvl::text::jinja
