// Renders statement trees: text, {{ }}, if, for (with loop.*, filters, else, break/continue), set.
#include "text/jinja_error.h"
#include "text/jinja_eval.h"
#include "text/jinja_parser.h"
#include "text/jinja_template.h"

namespace qwenvl::text::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

// Jinja's `loop` object for iteration `i` of `n`.
Value MakeLoop(const std::vector<Value>& items, size_t i) {
  size_t n = items.size();
  Value loop = Value::MakeDict();
  Dict& d = *loop.AsDict();
  auto index0 = static_cast<int64_t>(i);
  auto length = static_cast<int64_t>(n);
  d.Set("index0", Value(index0));
  d.Set("index", Value(index0 + 1));
  d.Set("revindex0", Value(length - index0 - 1));
  d.Set("revindex", Value(length - index0));
  d.Set("first", Value(i == 0));
  d.Set("last", Value(i + 1 == n));
  d.Set("length", Value(length));
  d.Set("depth", Value(1));
  d.Set("depth0", Value(0));
  if (i > 0) d.Set("previtem", items[i - 1]);
  if (i + 1 < n) d.Set("nextitem", items[i + 1]);
  d.Set("cycle", Value::MakeFunction([i](const CallArgs& args) {
          if (args.positional.empty())
            ThrowType(args.line, "loop.cycle() needs at least one argument");
          return args.positional[i % args.positional.size()];
        }));
  return loop;
}

class Renderer {
 public:
  Renderer(const Value& context, const RenderLimits& limits)
      : budget_(limits), ev_(context, budget_) {}

  std::string Run(const Body& body) {
    std::string out;
    RenderBody(body, out);
    return out;
  }

 private:
  Flow RenderBody(const Body& body, std::string& out) {
    for (const NodePtr& node : body) {
      Flow flow = RenderNode(*node, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  void Append(std::string& out, const std::string& text, int line) {
    budget_.CheckString(out.size() + text.size(), line);
    out += text;
  }

  Flow RenderNode(const Node& node, std::string& out) {
    budget_.Step(node.line);
    switch (node.kind) {
      case Node::Kind::kText:
        Append(out, node.text, node.line);
        return Flow::kNormal;
      case Node::Kind::kOutput:
        Append(out, ToStr(ev_.Eval(*node.expr), budget_.max_string()), node.line);
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (size_t i = 0; i < node.conditions.size(); ++i) {
          if (Truthy(ev_.Eval(*node.conditions[i]))) return RenderBody(node.bodies[i], out);
        }
        if (node.bodies.size() > node.conditions.size()) return RenderBody(node.bodies.back(), out);
        return Flow::kNormal;
      case Node::Kind::kFor:
        RenderFor(node, out);
        return Flow::kNormal;
      case Node::Kind::kSet:
        RenderSet(node);
        return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string captured;
        Flow flow = RenderBody(node.bodies[0], captured);
        ev_.Assign(node.targets[0], Value(std::move(captured)));
        return flow;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kScope:
        return RenderBody(node.bodies[0], out);
    }
    return Flow::kNormal;
  }

  void AssignTargets(const std::vector<std::string>& targets, const Value& value, int line) {
    if (targets.size() == 1) {
      ev_.Assign(targets[0], value);
      return;
    }
    std::vector<Value> parts = Iterate(value, line);
    if (parts.size() != targets.size()) {
      ThrowAt(ErrorCode::kInvalidArgument, line,
              "cannot unpack " + std::to_string(parts.size()) + " values into " +
                  std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < parts.size(); ++i) ev_.Assign(targets[i], parts[i]);
  }

  void RenderFor(const Node& node, std::string& out) {
    std::vector<Value> items = Iterate(ev_.Eval(*node.expr), node.line);
    if (node.filter) {  // `for x in y if cond` filters before loop.* is computed
      std::vector<Value> kept;
      for (const Value& item : items) {
        ev_.PushScope();
        AssignTargets(node.targets, item, node.line);
        bool keep = Truthy(ev_.Eval(*node.filter));
        ev_.PopScope();
        if (keep) kept.push_back(item);
      }
      items = std::move(kept);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      budget_.Step(node.line);
      ev_.PushScope();
      AssignTargets(node.targets, items[i], node.line);
      ev_.Assign("loop", MakeLoop(items, i));
      Flow flow = RenderBody(node.bodies[0], out);
      ev_.PopScope();
      if (flow == Flow::kBreak) break;
    }
    if (items.empty() && node.bodies.size() > 1) RenderBody(node.bodies[1], out);
  }

  void RenderSet(const Node& node) {
    Value value = ev_.Eval(*node.expr);
    if (node.attr.empty()) {
      AssignTargets(node.targets, value, node.line);
      return;
    }
    Value ns = ev_.Lookup(node.targets[0]);
    if (!ns.IsDict() || !ns.AsDict()->is_namespace) {
      ThrowAt(ErrorCode::kInvalidArgument, node.line,
              "cannot assign attribute '" + node.attr + "' on '" + node.targets[0] +
                  "': not a namespace() object");
    }
    if (HoldsNamespaceOrFunction(value))
      ThrowUnsupported(node.line, "storing a namespace or function inside a namespace");
    ns.AsDict()->Set(node.attr, std::move(value));
  }

  Budget budget_;
  Evaluator ev_;
};

}  // namespace

Template Template::Parse(const std::string& source) {
  Template t;
  t.body_ = std::make_shared<const Body>(jinja::Parse(source));
  return t;
}

std::string Template::Render(const Value& context, const RenderLimits& limits) const {
  if (!body_) return "";
  Renderer renderer(context, limits);
  return renderer.Run(*body_);
}

}  // namespace qwenvl::text::jinja
