// `qwenvl tokenize`: the tokenizer from the command line, for checking ids against the reference.
//   qwenvl tokenize -m DIR "text"              -> [9707,1879]
//   qwenvl tokenize -m DIR --file texts.json   (a JSON array of strings) -> [[...],[...]]
//   qwenvl tokenize -m DIR --decode "[9707,1879]"  -> "Hello world"
//   qwenvl tokenize -m DIR --decode --file ids.json  (a JSON array of id arrays) -> ["...","..."]
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/model_argument.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace qwenvl::cli {
namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  std::string file;
  bool decode = false;
  bool skip_special = false;
  bool has_text = false;  // the text argument was given (it may be "")
};

nlohmann::json ParseJsonArg(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, what + ": not valid JSON: " + e.what());
  }
}

std::vector<TokenId> IdsFromJson(const nlohmann::json& node, const std::string& what) {
  if (!node.is_array()) {
    throw Error(ErrorCode::kInvalidArgument,
                what + ": a JSON array of ids expected, got " + std::string(node.type_name()));
  }
  std::vector<TokenId> ids;
  for (const auto& id : node) {
    // Checked before narrowing: an id beyond TokenId must not wrap around to another token's.
    // Ids within it that name no token are skipped by Decode.
    if (!id.is_number_integer() || !std::in_range<TokenId>(id.get<int64_t>())) {
      throw Error(ErrorCode::kInvalidArgument, what + ": token id expected, got " + id.dump());
    }
    ids.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return ids;
}

std::string Encode(const text::Tokenizer& tokenizer, const TokenizeOptions& opts) {
  if (opts.file.empty()) return nlohmann::json(tokenizer.Encode(opts.text)).dump();
  const nlohmann::json texts = ParseJsonArg(ReadFileToString(opts.file), opts.file);
  if (!texts.is_array()) {
    throw Error(ErrorCode::kInvalidArgument, opts.file + ": a JSON array of strings expected");
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : texts) {
    if (!t.is_string()) {
      throw Error(ErrorCode::kInvalidArgument, opts.file + ": string expected, got " + t.dump());
    }
    out.push_back(tokenizer.Encode(t.get_ref<const std::string&>()));
  }
  return out.dump();
}

std::string Decode(const text::Tokenizer& tokenizer, const TokenizeOptions& opts) {
  if (opts.file.empty()) {
    const auto ids = IdsFromJson(ParseJsonArg(opts.text, "--decode argument"), "--decode argument");
    return nlohmann::json(tokenizer.Decode(ids, opts.skip_special)).dump();
  }
  const nlohmann::json lists = ParseJsonArg(ReadFileToString(opts.file), opts.file);
  if (!lists.is_array()) {
    throw Error(ErrorCode::kInvalidArgument, opts.file + ": a JSON array of id arrays expected");
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& list : lists) {
    out.push_back(tokenizer.Decode(IdsFromJson(list, opts.file), opts.skip_special));
  }
  return out.dump();
}

void RunTokenize(const TokenizeOptions& opts) {
  if (opts.has_text == !opts.file.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "tokenize: give either a text argument or --file");
  }
  const text::Tokenizer tokenizer = text::Tokenizer::FromModelDir(opts.model_dir);
  const std::string out = opts.decode ? Decode(tokenizer, opts) : Encode(tokenizer, opts);
  std::printf("%s\n", out.c_str());
}

}  // namespace

void AddTokenizeCommand(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids (JSON)");
  cmd->add_option("-m,--model", opts->model_dir,
                  "Model directory holding tokenizer.json, or hub name ORG/NAME[@REV]")
      ->required()
      ->transform(ModelArgument());
  CLI::Option* text =
      cmd->add_option("text", opts->text, "Text to encode, or with --decode a JSON array of ids");
  cmd->add_option("--file", opts->file,
                  "JSON file: an array of strings, or with --decode an array of id arrays");
  cmd->add_flag("--decode", opts->decode, "Decode ids to text instead of encoding");
  cmd->add_flag("--skip-special", opts->skip_special, "With --decode: drop special tokens");
  cmd->callback([opts, text] {
    opts->has_text = text->count() > 0;
    RunTokenize(*opts);
  });
}

}  // namespace qwenvl::cli
