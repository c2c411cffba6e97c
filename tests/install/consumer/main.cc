// Links against the installed qwenvl: a missing model folder must raise qwenvl::Error, and a real
// one (argv[1], optional) must load.
#include <qwenvl/engine.h>

#include <cstdio>

int main(int argc, char** argv) {
  qwenvl::EngineOptions options;
  options.model_dir = "/nonexistent/qwenvl-model";
  try {
    qwenvl::Engine::Load(options);
    std::puts("FAIL: loading a missing folder did not throw");
    return 1;
  } catch (const qwenvl::Error& e) {
    std::printf("ok: %s: %s\n", qwenvl::ErrorCodeName(e.code()), e.what());
  }
  if (argc > 1) {
    options.model_dir = argv[1];
    auto engine = qwenvl::Engine::Load(options);
    std::printf("ok: loaded %s\n", engine->model_name().c_str());
  }
  return 0;
}
