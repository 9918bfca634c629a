// ckpt: the command-line twin of Checkpoint Inspector.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli_exit.h"
#include "app/cli_heap.h"
#include "app/commands.h"
#include "io/error.h"

int main(int argc, char** argv) {
  ckpt::app::start_with_huge_page_heap(argv);
  ckpt::app::keep_freed_memory_for_reuse();
  CLI::App app{"ckpt — inspect and convert model checkpoints (.safetensors, .gguf, PyTorch .pt/.pth/.bin, .npy, .npz)", "ckpt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ckpt ") + CKPT_VERSION);

  ckpt::app::Context ctx;
  ckpt::app::add_info(app, ctx);
  ckpt::app::add_convert(app, ctx);
  ckpt::app::add_tree(app, ctx);
  ckpt::app::add_stats(app, ctx);
  ckpt::app::add_checksum(app, ctx);
  ckpt::app::add_show(app, ctx);
  ckpt::app::add_diff(app, ctx);
  ckpt::app::add_spec(app, ctx);
  ckpt::app::add_map(app, ctx);

  try {
    app.parse(argc, argv);
    return ckpt::app::finish(ctx.exit_code);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const ckpt::io::Error& e) {
    fmt::print(stderr, "ckpt: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "ckpt: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ckpt: {}\n", e.what());
    return 2;
  }
  return 2;
}
