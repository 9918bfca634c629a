#include "app/cli_heap.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "app/cli_build.h"

namespace ckpt::app {

namespace {
constexpr const char* kTunable = "glibc.malloc.hugetlb";
// Set with the tunable, so a second start never starts again, whatever
// glibc made of it.
constexpr const char* kMarker = "CKPT_HEAP_RESTARTED";


// Huge pages only help where the kernel gives them on request.
bool kernel_offers_huge_pages() {
  char mode[128] = {};
  FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return false;
  const std::size_t n = std::fread(mode, 1, sizeof mode - 1, f);
  std::fclose(f);
  mode[n] = '\0';
  return std::strstr(mode, "[never]") == nullptr;
}
}  // namespace

void start_with_huge_page_heap(char** argv) {
  const char* asked = std::getenv("CKPT_HUGE_PAGES");
  if (!asked || !*asked || std::strcmp(asked, "0") == 0) return;
  if (kSanitizerBuild || std::getenv(kMarker)) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, kTunable)) return;
  if (!kernel_offers_huge_pages()) return;
  std::string value = tunables && *tunables ? std::string(tunables) + ":" : std::string();
  value += std::string(kTunable) + "=1";
  // The binary's own path, not /proc/self/exe itself: tools that run ckpt
  // under them (valgrind) answer the readlink with ckpt's path, and follow
  // an exec of it.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0 || ::setenv(kMarker, "1", 1) != 0) return;
  ::execv(self, argv);
  // Still here: /proc is missing or exec was refused. Carry on as we are.
  if (tunables) ::setenv("GLIBC_TUNABLES", tunables, 1);
  else ::unsetenv("GLIBC_TUNABLES");
}

void keep_freed_memory_for_reuse() {
  constexpr int kKeepBytes = 32 << 20;
  // Blocks above the threshold are mapped on their own and unmapped when
  // freed; the trim threshold bounds what a free at the heap's top returns.
  (void)::mallopt(M_MMAP_THRESHOLD, kKeepBytes);
  (void)::mallopt(M_TRIM_THRESHOLD, 8 * kKeepBytes);
}

}  // namespace ckpt::app
