// PLACEHOLDER until the model-layer command lands: registers nothing.
#include "app/commands.h"

namespace ckpt::app {
void add_diff(CLI::App&, Context&) {}
}  // namespace ckpt::app
