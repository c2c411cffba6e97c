// A parsed Jinja template (the subset chat templates use, model-spec §8.3) and its renderer.
#pragma once

#include <memory>
#include <string>

#include "text/jinja_ast.h"
#include "text/jinja_budget.h"
#include "text/jinja_value.h"

namespace qwenvl::text::jinja {

class Template {
 public:
  // Throws qwenvl::Error (naming the line) on syntax errors and unsupported constructs.
  static Template Parse(const std::string& source);

  // Renders with `context` (a dict Value: variable name -> value) over transformers' globals
  // (range, namespace, raise_exception, strftime_now, dict). Throws qwenvl::Error on runtime
  // errors, raise_exception() and exceeded limits.
  std::string Render(const Value& context, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const Body> body_;
};

}  // namespace qwenvl::text::jinja
