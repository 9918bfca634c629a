#pragma once
// Every ckpt subcommand registers itself on the CLI11 app; its callback
// stores the exit code (0 ok, 1 differences found, 2 error) in `ctx`.
// One file per command: cli_commands.cpp (info, convert), cmd_<name>.cpp.
#include <CLI/CLI.hpp>

namespace ckpt::app {

struct Context {
  int exit_code = 0;
};

void add_info(CLI::App& app, Context& ctx);
void add_convert(CLI::App& app, Context& ctx);
void add_tree(CLI::App& app, Context& ctx);
void add_stats(CLI::App& app, Context& ctx);
void add_checksum(CLI::App& app, Context& ctx);
void add_show(CLI::App& app, Context& ctx);
void add_diff(CLI::App& app, Context& ctx);
void add_spec(CLI::App& app, Context& ctx);
void add_map(CLI::App& app, Context& ctx);

}  // namespace ckpt::app
