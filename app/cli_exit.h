#pragma once
// Ending the ckpt process without tearing down what a command built.
// Freeing the bookkeeping of a 50,000-tensor checkpoint (names, shapes,
// member tables, the mapping) took 8-10 ms of a 50-70 ms listing; at exit
// the kernel reclaims all of it at once. Sanitizer builds still free
// everything, so leak checking sees a clean exit.
#include <memory>
#include <type_traits>
#include <utility>

namespace ckpt::app {

void keep_until_exit_erased(std::shared_ptr<const void> object);

// Moves `object` somewhere it lives until the process ends; returns it.
template <class T>
std::remove_cvref_t<T>& keep_until_exit(T&& object) {
  auto held = std::make_shared<std::remove_cvref_t<T>>(std::forward<T>(object));
  auto& ref = *held;
  keep_until_exit_erased(std::move(held));
  return ref;
}

// Flushes standard output and error and ends the process with `code`
// (in sanitizer builds: frees what was kept and returns `code` to main).
int finish(int code);

}  // namespace ckpt::app
