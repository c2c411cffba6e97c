// The recursive-descent parser shared by jinja_parser.cc (statements) and jinja_expr_parser.cc
// (expressions). Internal to src/text.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"

namespace qwenvl::text::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens);
  Body ParseTemplate();

 private:
  // Counts nesting; throws past kMaxParseDepth so hostile input cannot exhaust the stack.
  struct DepthGuard {
    DepthGuard(Parser* p, int line);
    ~DepthGuard() { --parser->depth_; }
    Parser* parser;
  };

  const Token& Peek(size_t ahead = 0) const;
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool IsOp(const char* op, size_t ahead = 0) const;
  bool IsName(const char* name, size_t ahead = 0) const;
  void ExpectOp(const char* op);
  std::string ExpectName();
  void ExpectBlockEnd();
  static std::string Describe(const Token& t);

  // Statements (jinja_parser.cc).
  Body ParseUntil(std::initializer_list<const char*> ends, std::string* found);
  NodePtr ParseStatement();
  NodePtr ParseIf(int line);
  NodePtr ParseFor(int line);
  NodePtr ParseSet(int line);
  std::vector<std::string> ParseTargets();

  // Expressions (jinja_expr_parser.cc), by increasing precedence as in Jinja's parser.
  ExprPtr ParseTuple(bool with_condexpr);
  ExprPtr ParseExpression(bool with_condexpr);
  ExprPtr ParseOr();
  ExprPtr ParseAnd();
  ExprPtr ParseNot();
  ExprPtr ParseCompare();
  ExprPtr ParseMath1();
  ExprPtr ParseConcat();
  ExprPtr ParseMath2();
  ExprPtr ParsePow();
  ExprPtr ParseUnary(bool with_filter);
  ExprPtr ParsePrimary();
  ExprPtr ParseLiteral();
  ExprPtr ParseListOrDict();
  ExprPtr ParsePostfix(ExprPtr node);
  ExprPtr ParseFilterOrTest(ExprPtr node);
  ExprPtr ParseSubscript(ExprPtr node);
  void ParseCallArgs(Expr* call);
  ExprPtr MakeBinary(Expr::Kind kind, std::string op, ExprPtr lhs, ExprPtr rhs, int line);

  std::vector<Token> tokens_;  // ends with kEof
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace qwenvl::text::jinja
