// -m DIR or -m ORG/NAME[@REV]: a local folder always wins; otherwise a hub name resolves to its
// snapshot in the Hugging Face cache. A name missing from the cache is offered for download on a
// terminal ("pull it now? [y/N]"); elsewhere it is an error naming `qwenvl pull ORG/NAME`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace qwenvl::cli {

// The folder `argument` designates (unchanged when it is not a hub name).
std::string ResolveModelArgument(const std::string& argument);
// A CLI11 transform applying ResolveModelArgument to an -m option's value.
CLI::Validator ModelArgument();

}  // namespace qwenvl::cli
