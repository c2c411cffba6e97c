// Statement-level parser: text, {{ }}, if/elif/else, for/else, set, break/continue, generation.
// Expressions are parsed by jinja_expr_parser.cc (same Parser class).
#include "text/jinja_parser.h"

#include <algorithm>

#include "text/jinja_error.h"
#include "text/jinja_parser_impl.h"

namespace qwenvl::text::jinja {

namespace {

NodePtr MakeNode(Node::Kind kind, int line) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  node->line = line;
  return node;
}

}  // namespace

Parser::Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

const Token& Parser::Peek(size_t ahead) const {
  size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
  return tokens_[i];
}

bool Parser::IsOp(const char* op, size_t ahead) const {
  const Token& t = Peek(ahead);
  return t.kind == Token::Kind::kOp && t.text == op;
}

bool Parser::IsName(const char* name, size_t ahead) const {
  const Token& t = Peek(ahead);
  return t.kind == Token::Kind::kName && t.text == name;
}

std::string Parser::Describe(const Token& t) {
  switch (t.kind) {
    case Token::Kind::kText:
      return "template text";
    case Token::Kind::kVarBegin:
      return "'{{'";
    case Token::Kind::kVarEnd:
      return "'}}'";
    case Token::Kind::kBlockBegin:
      return "'{%'";
    case Token::Kind::kBlockEnd:
      return "'%}'";
    case Token::Kind::kString:
      return "a string";
    case Token::Kind::kEof:
      return "end of template";
    default:
      return "'" + t.text + "'";
  }
}

void Parser::ExpectOp(const char* op) {
  if (!IsOp(op))
    ThrowSyntax(Peek().line, std::string("expected '") + op + "', got " + Describe(Peek()));
  Next();
}

std::string Parser::ExpectName() {
  if (Peek().kind != Token::Kind::kName)
    ThrowSyntax(Peek().line, "expected a name, got " + Describe(Peek()));
  return Next().text;
}

void Parser::ExpectBlockEnd() {
  if (Peek().kind != Token::Kind::kBlockEnd)
    ThrowSyntax(Peek().line, "expected '%}', got " + Describe(Peek()));
  Next();
}

Parser::DepthGuard::DepthGuard(Parser* p, int line) : parser(p) {
  if (++parser->depth_ > kMaxParseDepth) {
    ThrowAt(ErrorCode::kOutOfRange, line, "nesting deeper than " + std::to_string(kMaxParseDepth));
  }
}

Body Parser::ParseTemplate() {
  std::string found;
  Body body = ParseUntil({}, &found);
  return body;
}

Body Parser::ParseUntil(std::initializer_list<const char*> ends, std::string* found) {
  DepthGuard guard(this, Peek().line);
  Body body;
  while (true) {
    const Token& t = Peek();
    if (t.kind == Token::Kind::kEof) {
      if (ends.size() == 0) return body;
      ThrowSyntax(t.line,
                  std::string("missing {% ") + *ends.begin() + " %} before end of template");
    }
    if (t.kind == Token::Kind::kText) {
      auto node = MakeNode(Node::Kind::kText, t.line);
      node->text = Next().text;
      body.push_back(std::move(node));
    } else if (t.kind == Token::Kind::kVarBegin) {
      auto node = MakeNode(Node::Kind::kOutput, Next().line);
      node->expr = ParseTuple(true);
      if (Peek().kind != Token::Kind::kVarEnd) {
        ThrowSyntax(Peek().line, "expected '}}', got " + Describe(Peek()));
      }
      Next();
      body.push_back(std::move(node));
    } else if (t.kind == Token::Kind::kBlockBegin) {
      const Token& name = Peek(1);
      for (const char* end : ends) {
        if (name.kind == Token::Kind::kName && name.text == end) {
          Next();
          *found = Next().text;
          return body;
        }
      }
      Next();
      body.push_back(ParseStatement());
    } else {
      ThrowSyntax(t.line, "unexpected " + Describe(t));
    }
  }
}

NodePtr Parser::ParseStatement() {
  const Token& t = Peek();
  if (t.kind != Token::Kind::kName)
    ThrowSyntax(t.line, "expected a tag name after '{%', got " + Describe(t));
  std::string tag = Next().text;
  int line = t.line;
  if (tag == "if") return ParseIf(line);
  if (tag == "for") return ParseFor(line);
  if (tag == "set") return ParseSet(line);
  if (tag == "break" || tag == "continue") {
    ExpectBlockEnd();
    if (loop_depth_ == 0) ThrowSyntax(line, "{% " + tag + " %} outside of a for loop");
    return MakeNode(tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line);
  }
  if (tag == "generation") {
    // transformers' AssistantTracker extension: marks assistant text, renders its body unchanged.
    ExpectBlockEnd();
    auto node = MakeNode(Node::Kind::kScope, line);
    std::string found;
    node->bodies.push_back(ParseUntil({"endgeneration"}, &found));
    ExpectBlockEnd();
    return node;
  }
  static const char* const kEnds[] = {"endif",  "elif",          "else",     "endfor",  "endset",
                                      "endraw", "endgeneration", "endmacro", "endblock"};
  for (const char* end : kEnds) {
    if (tag == end) ThrowSyntax(line, "unexpected '{% " + tag + " %}'");
  }
  static const char* const kKnown[] = {"macro",  "call", "filter",     "include",
                                       "import", "from", "extends",    "block",
                                       "with",   "do",   "autoescape", "trans"};
  for (const char* known : kKnown) {
    if (tag == known) ThrowUnsupported(line, "'{% " + tag + " %}'");
  }
  ThrowUnsupported(line, "unknown tag '{% " + tag + " %}'");
}

NodePtr Parser::ParseIf(int line) {
  auto node = MakeNode(Node::Kind::kIf, line);
  node->conditions.push_back(ParseExpression(false));
  ExpectBlockEnd();
  while (true) {
    std::string found;
    node->bodies.push_back(ParseUntil({"endif", "elif", "else"}, &found));
    if (found == "elif") {
      node->conditions.push_back(ParseExpression(false));
      ExpectBlockEnd();
    } else if (found == "else") {
      ExpectBlockEnd();
      node->bodies.push_back(ParseUntil({"endif"}, &found));
      ExpectBlockEnd();
      return node;
    } else {
      ExpectBlockEnd();
      return node;
    }
  }
}

std::vector<std::string> Parser::ParseTargets() {
  std::vector<std::string> targets;
  bool paren = IsOp("(");
  if (paren) Next();
  targets.push_back(ExpectName());
  while (IsOp(",")) {
    Next();
    if (paren ? IsOp(")") : (IsName("in") || IsOp("="))) break;
    targets.push_back(ExpectName());
  }
  if (paren) ExpectOp(")");
  return targets;
}

NodePtr Parser::ParseFor(int line) {
  auto node = MakeNode(Node::Kind::kFor, line);
  node->targets = ParseTargets();
  if (!IsName("in")) ThrowSyntax(Peek().line, "expected 'in' in for loop, got " + Describe(Peek()));
  Next();
  node->expr = ParseTuple(false);
  if (IsName("if")) {
    Next();
    node->filter = ParseExpression(true);
  }
  if (IsName("recursive")) ThrowUnsupported(line, "'{% for ... recursive %}'");
  ExpectBlockEnd();
  ++loop_depth_;
  std::string found;
  node->bodies.push_back(ParseUntil({"endfor", "else"}, &found));
  --loop_depth_;
  ExpectBlockEnd();
  if (found == "else") {
    node->bodies.push_back(ParseUntil({"endfor"}, &found));
    ExpectBlockEnd();
  }
  return node;
}

NodePtr Parser::ParseSet(int line) {
  auto node = MakeNode(Node::Kind::kSet, line);
  if (Peek().kind == Token::Kind::kName && IsOp(".", 1)) {
    node->targets.push_back(Next().text);
    Next();
    node->attr = ExpectName();
  } else {
    node->targets = ParseTargets();
  }
  if (IsOp("=")) {
    Next();
    node->expr = ParseTuple(true);
    ExpectBlockEnd();
    return node;
  }
  if (node->targets.size() != 1 || !node->attr.empty()) {
    ThrowSyntax(line, "a block {% set %} assigns exactly one name");
  }
  if (IsOp("|")) ThrowUnsupported(line, "'{% set x | filter %}'");
  ExpectBlockEnd();
  node->kind = Node::Kind::kSetBlock;
  std::string found;
  node->bodies.push_back(ParseUntil({"endset"}, &found));
  ExpectBlockEnd();
  return node;
}

Body Parse(const std::string& source) { return Parser(Tokenize(source)).ParseTemplate(); }

}  // namespace qwenvl::text::jinja
