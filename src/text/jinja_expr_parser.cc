// Expression parser, following the precedence of Jinja's parser: conditional, or, and, not,
// comparisons (incl. in / not in), + -, ~, * / // %, **, unary - +, then postfix (. [] ()) and
// filters / tests (| and is), which bind tighter than any binary operator.
#include <cerrno>
#include <cstdlib>

#include "text/jinja_error.h"
#include "text/jinja_parser_impl.h"

namespace qwenvl::text::jinja {
namespace {

ExprPtr MakeExpr(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

bool StartsPrimary(const Token& t) {
  if (t.kind == Token::Kind::kName) return t.text != "else" && t.text != "or" && t.text != "and";
  if (t.kind == Token::Kind::kString || t.kind == Token::Kind::kInt ||
      t.kind == Token::Kind::kFloat) {
    return true;
  }
  return t.kind == Token::Kind::kOp && (t.text == "(" || t.text == "[" || t.text == "{");
}

}  // namespace

ExprPtr Parser::MakeBinary(Expr::Kind kind, std::string op, ExprPtr lhs, ExprPtr rhs, int line) {
  ExprPtr e = MakeExpr(kind, line);
  e->name = std::move(op);
  e->args.push_back(std::move(lhs));
  e->args.push_back(std::move(rhs));
  return e;
}

// `a, b` outside brackets is a tuple (as in `{{ a, b }}` or `set x = 1, 2`).
ExprPtr Parser::ParseTuple(bool with_condexpr) {
  int line = Peek().line;
  ExprPtr first = ParseExpression(with_condexpr);
  if (!IsOp(",")) return first;
  ExprPtr tuple = MakeExpr(Expr::Kind::kList, line);
  tuple->is_tuple = true;
  tuple->args.push_back(std::move(first));
  while (IsOp(",")) {
    Next();
    const Token& t = Peek();
    if (t.kind == Token::Kind::kVarEnd || t.kind == Token::Kind::kBlockEnd || IsOp(")")) break;
    tuple->args.push_back(ParseExpression(with_condexpr));
  }
  return tuple;
}

ExprPtr Parser::ParseExpression(bool with_condexpr) {
  DepthGuard guard(this, Peek().line);
  ExprPtr expr = ParseOr();
  while (with_condexpr && IsName("if")) {
    ExprPtr cond = MakeExpr(Expr::Kind::kCond, Next().line);
    cond->args.push_back(std::move(expr));
    cond->args.push_back(ParseOr());
    if (IsName("else")) {
      Next();
      cond->args.push_back(ParseExpression(true));
    } else {
      cond->args.push_back(nullptr);
    }
    expr = std::move(cond);
  }
  return expr;
}

ExprPtr Parser::ParseOr() {
  ExprPtr left = ParseAnd();
  while (IsName("or")) {
    int line = Next().line;
    left = MakeBinary(Expr::Kind::kBinary, "or", std::move(left), ParseAnd(), line);
  }
  return left;
}

ExprPtr Parser::ParseAnd() {
  ExprPtr left = ParseNot();
  while (IsName("and")) {
    int line = Next().line;
    left = MakeBinary(Expr::Kind::kBinary, "and", std::move(left), ParseNot(), line);
  }
  return left;
}

ExprPtr Parser::ParseNot() {
  if (!IsName("not")) return ParseCompare();
  DepthGuard guard(this, Peek().line);
  ExprPtr e = MakeExpr(Expr::Kind::kUnary, Next().line);
  e->name = "not";
  e->args.push_back(ParseNot());
  return e;
}

ExprPtr Parser::ParseCompare() {
  int line = Peek().line;
  ExprPtr first = ParseMath1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    const Token& t = Peek();
    if (t.kind == Token::Kind::kOp && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                       t.text == ">" || t.text == "<=" || t.text == ">=")) {
      op = Next().text;
    } else if (IsName("in")) {
      Next();
      op = "in";
    } else if (IsName("not") && IsName("in", 1)) {
      Next();
      Next();
      op = "not in";
    } else {
      break;
    }
    if (!cmp) {
      cmp = MakeExpr(Expr::Kind::kCompare, line);
      cmp->args.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->args.push_back(ParseMath1());
  }
  return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::ParseMath1() {
  ExprPtr left = ParseConcat();
  while (IsOp("+") || IsOp("-")) {
    const Token& t = Next();
    left = MakeBinary(Expr::Kind::kBinary, t.text, std::move(left), ParseConcat(), t.line);
  }
  return left;
}

ExprPtr Parser::ParseConcat() {
  ExprPtr left = ParseMath2();
  while (IsOp("~")) {
    int line = Next().line;
    left = MakeBinary(Expr::Kind::kBinary, "~", std::move(left), ParseMath2(), line);
  }
  return left;
}

ExprPtr Parser::ParseMath2() {
  ExprPtr left = ParsePow();
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const Token& t = Next();
    left = MakeBinary(Expr::Kind::kBinary, t.text, std::move(left), ParsePow(), t.line);
  }
  return left;
}

ExprPtr Parser::ParsePow() {
  ExprPtr left = ParseUnary(true);
  while (IsOp("**")) {
    int line = Next().line;
    left = MakeBinary(Expr::Kind::kBinary, "**", std::move(left), ParseUnary(true), line);
  }
  return left;
}

ExprPtr Parser::ParseUnary(bool with_filter) {
  DepthGuard guard(this, Peek().line);
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    const Token& t = Next();
    node = MakeExpr(Expr::Kind::kUnary, t.line);
    node->name = t.text;
    node->args.push_back(ParseUnary(false));
  } else {
    node = ParsePrimary();
  }
  node = ParsePostfix(std::move(node));
  return with_filter ? ParseFilterOrTest(std::move(node)) : std::move(node);
}

ExprPtr Parser::ParsePrimary() {
  const Token& t = Peek();
  if (t.kind == Token::Kind::kName) {
    Next();
    if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
      ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.line);
      e->literal = Value(t.text[0] == 't' || t.text[0] == 'T');
      return e;
    }
    ExprPtr e = MakeExpr(
        t.text == "none" || t.text == "None" ? Expr::Kind::kLiteral : Expr::Kind::kName, t.line);
    if (e->kind == Expr::Kind::kLiteral) e->literal = Value(nullptr);
    e->name = t.text;
    return e;
  }
  if (t.kind == Token::Kind::kString || t.kind == Token::Kind::kInt ||
      t.kind == Token::Kind::kFloat) {
    return ParseLiteral();
  }
  if (IsOp("(")) {
    int line = Next().line;
    if (IsOp(")")) {
      Next();
      ExprPtr e = MakeExpr(Expr::Kind::kList, line);
      e->is_tuple = true;
      return e;
    }
    ExprPtr inner = ParseTuple(true);
    ExpectOp(")");
    return inner;
  }
  if (IsOp("[") || IsOp("{")) return ParseListOrDict();
  ThrowSyntax(t.line, "expected an expression, got " + Describe(t));
}

ExprPtr Parser::ParseLiteral() {
  const Token& t = Next();
  ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.line);
  if (t.kind == Token::Kind::kString) {
    std::string s = t.text;
    while (Peek().kind == Token::Kind::kString) s += Next().text;  // 'a' 'b' == 'ab'
    e->literal = Value(std::move(s));
    return e;
  }
  errno = 0;
  if (t.kind == Token::Kind::kFloat) {
    e->literal = Value(std::strtod(t.text.c_str(), nullptr));
    return e;
  }
  int base = 10;
  const char* digits = t.text.c_str();
  if (t.text.size() > 1 && t.text[0] == '0' &&
      std::isalpha(static_cast<unsigned char>(t.text[1]))) {
    char b = static_cast<char>(std::tolower(t.text[1]));
    base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
    digits += 2;
  }
  char* end = nullptr;
  long long v = std::strtoll(digits, &end, base);
  if (errno == ERANGE || end == digits || *end != 0) {
    ThrowSyntax(t.line, "integer literal '" + t.text + "' is malformed or beyond 64 bits");
  }
  e->literal = Value(static_cast<int64_t>(v));
  return e;
}

ExprPtr Parser::ParseListOrDict() {
  bool is_dict = IsOp("{");
  int line = Next().line;
  ExprPtr e = MakeExpr(is_dict ? Expr::Kind::kDict : Expr::Kind::kList, line);
  const char* close = is_dict ? "}" : "]";
  while (!IsOp(close)) {
    if (!e->args.empty()) {
      ExpectOp(",");
      if (IsOp(close)) break;
    }
    e->args.push_back(ParseExpression(true));
    if (is_dict) {
      ExpectOp(":");
      e->args.push_back(ParseExpression(true));
    }
  }
  Next();
  return e;
}

ExprPtr Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".")) {
      int line = Next().line;
      const Token& t = Peek();
      if (t.kind == Token::Kind::kInt) {  // x.0 is x[0]
        ExprPtr item = MakeExpr(Expr::Kind::kItem, line);
        item->args.push_back(std::move(node));
        item->args.push_back(ParseLiteral());
        node = std::move(item);
        continue;
      }
      ExprPtr attr = MakeExpr(Expr::Kind::kAttr, line);
      attr->name = ExpectName();
      attr->args.push_back(std::move(node));
      node = std::move(attr);
    } else if (IsOp("[")) {
      node = ParseSubscript(std::move(node));
    } else if (IsOp("(")) {
      ExprPtr call = MakeExpr(Expr::Kind::kCall, Peek().line);
      call->args.push_back(std::move(node));
      ParseCallArgs(call.get());
      node = std::move(call);
    } else {
      return node;
    }
  }
}

ExprPtr Parser::ParseSubscript(ExprPtr node) {
  int line = Next().line;
  ExprPtr start = IsOp(":") ? nullptr : ParseExpression(true);
  if (!IsOp(":")) {
    ExpectOp("]");
    ExprPtr item = MakeExpr(Expr::Kind::kItem, line);
    item->args.push_back(std::move(node));
    item->args.push_back(std::move(start));
    return item;
  }
  Next();
  ExprPtr slice = MakeExpr(Expr::Kind::kSlice, line);
  slice->args.push_back(std::move(node));
  slice->args.push_back(std::move(start));
  slice->args.push_back(IsOp("]") || IsOp(":") ? nullptr : ParseExpression(true));
  if (IsOp(":")) {
    Next();
    slice->args.push_back(IsOp("]") ? nullptr : ParseExpression(true));
  } else {
    slice->args.push_back(nullptr);
  }
  ExpectOp("]");
  return slice;
}

// (a, b, key=c): positional arguments go after the callee/input in args, keywords in kwargs.
void Parser::ParseCallArgs(Expr* call) {
  ExpectOp("(");
  bool first = true;
  while (!IsOp(")")) {
    if (!first) {
      ExpectOp(",");
      if (IsOp(")")) break;
    }
    first = false;
    if (IsOp("*") || IsOp("**")) ThrowUnsupported(Peek().line, "'*args' / '**kwargs' in a call");
    if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
      std::string key = Next().text;
      Next();
      call->kwargs.emplace_back(std::move(key), ParseExpression(true));
    } else {
      if (!call->kwargs.empty())
        ThrowSyntax(Peek().line, "positional argument after keyword argument");
      call->args.push_back(ParseExpression(true));
    }
  }
  Next();
}

ExprPtr Parser::ParseFilterOrTest(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      ExprPtr f = MakeExpr(Expr::Kind::kFilter, Next().line);
      f->name = ExpectName();
      f->args.push_back(std::move(node));
      if (IsOp("(")) ParseCallArgs(f.get());
      node = std::move(f);
    } else if (IsName("is")) {
      ExprPtr t = MakeExpr(Expr::Kind::kTest, Next().line);
      if (IsName("not")) {
        Next();
        t->negated = true;
      }
      t->name = ExpectName();
      t->args.push_back(std::move(node));
      if (IsOp("(")) {
        ParseCallArgs(t.get());
      } else if (StartsPrimary(Peek()) && !IsName("is") && !IsName("if") && !IsName("in") &&
                 !IsName("not")) {
        t->args.push_back(ParsePostfix(ParsePrimary()));  // x is divisibleby 3
      }
      node = std::move(t);
    } else if (IsOp("(") && node->kind == Expr::Kind::kFilter) {
      ThrowSyntax(Peek().line, "unexpected '(' after a filter");
    } else {
      return node;
    }
  }
}

}  // namespace qwenvl::text::jinja
