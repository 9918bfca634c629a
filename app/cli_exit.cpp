#include "app/cli_exit.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "app/cli_build.h"

namespace ckpt::app {

namespace {

std::vector<std::shared_ptr<const void>>& kept() {
  static std::vector<std::shared_ptr<const void>> objects;
  return objects;
}
}  // namespace

void keep_until_exit_erased(std::shared_ptr<const void> object) { kept().push_back(std::move(object)); }

int finish(int code) {
  std::fflush(nullptr);
  if (!kSanitizerBuild) std::_Exit(code);
  kept().clear();
  return code;
}

}  // namespace ckpt::app
