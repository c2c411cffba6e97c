// qwenvl::Error: every user-facing failure (bad file, config, image, prompt, request).
// Caught only at the CLI (exit code) and the server (4xx/5xx JSON). QWENVL_CHECK guards programmer
// invariants and is never used to validate input.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "qwenvl/error.h"

namespace qwenvl {

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace qwenvl

#define QWENVL_CHECK(cond)                                         \
  do {                                                             \
    if (!(cond)) ::qwenvl::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

#ifdef NDEBUG
#define QWENVL_DCHECK(cond) \
  do {                      \
  } while (0)
#else
#define QWENVL_DCHECK(cond) QWENVL_CHECK(cond)
#endif
