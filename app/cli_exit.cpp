#include "app/cli_exit.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ckpt::app {

namespace {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kFreeAtExit = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kFreeAtExit = true;
#else
constexpr bool kFreeAtExit = false;
#endif
#else
constexpr bool kFreeAtExit = false;
#endif

std::vector<std::shared_ptr<const void>>& kept() {
  static std::vector<std::shared_ptr<const void>> objects;
  return objects;
}
}  // namespace

void keep_until_exit_erased(std::shared_ptr<const void> object) { kept().push_back(std::move(object)); }

int finish(int code) {
  std::fflush(nullptr);
  if (!kFreeAtExit) std::_Exit(code);
  kept().clear();
  return code;
}

}  // namespace ckpt::app
