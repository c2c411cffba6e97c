// Runs the built qwenvl binary as a user would, for the command-line tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace qwenvl::cli::testing {

struct CommandResult {
  int status = -1;  // exit status, -1 when the process did not exit normally
  std::string out;  // standard output (and standard error when asked)
};

// `args` are appended to the binary's path and run by the shell; `stdin_text`, when given, is
// piped in through a temporary file.
inline CommandResult RunQwenvl(const std::string& args, bool with_stderr = false,
                               const std::string& stdin_text = {}) {
  std::string cmd = std::string(QWENVL_BINARY_DIR "/qwenvl ") + args;
  std::string input_path;
  if (!stdin_text.empty()) {
    input_path = "/tmp/qwenvl_cli_stdin_" + std::to_string(::getpid());
    if (FILE* f = std::fopen(input_path.c_str(), "wb")) {
      std::fwrite(stdin_text.data(), 1, stdin_text.size(), f);
      std::fclose(f);
    }
    cmd += " < " + input_path;
  }
  cmd += with_stderr ? " 2>&1" : " 2>/dev/null";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!input_path.empty()) std::remove(input_path.c_str());
  return r;
}

}  // namespace qwenvl::cli::testing
