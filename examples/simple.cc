// The smallest qwenvl program: load a model folder, ask one question about one picture, print the
// answer as it streams in.
//   qwenvl_example_simple MODEL_DIR IMAGE ["question"]
#include <qwenvl/engine.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE [QUESTION]\n", argv[0]);
    return 2;
  }
  try {
    qwenvl::EngineOptions options;
    options.model_dir = argv[1];
    options.context_length = 8192;
    auto engine = qwenvl::Engine::Load(options);

    qwenvl::Message user;
    user.role = "user";
    qwenvl::ContentPart picture;
    picture.type = qwenvl::ContentPart::Type::kMedia;
    picture.media.path = argv[2];
    user.content.push_back(picture);
    user.content.push_back(
        {qwenvl::ContentPart::Type::kText, argc > 3 ? argv[3] : "Describe this image.", {}});
    qwenvl::Request request;
    request.messages.push_back(user);
    request.sampling.max_new_tokens = 256;

    const qwenvl::Result result = engine->Generate(request, [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;  // false would stop the generation
    });
    std::fprintf(stderr, "\n[%lld prompt + %lld generated tokens, first token after %.0f ms]\n",
                 static_cast<long long>(result.prompt_tokens),
                 static_cast<long long>(result.completion_tokens), result.timings.first_token_ms);
  } catch (const qwenvl::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
