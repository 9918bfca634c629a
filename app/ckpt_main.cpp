// ckpt: the command-line twin of Checkpoint Inspector.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "io/error.h"

int main(int argc, char** argv) {
  CLI::App app{"ckpt — inspect and convert model checkpoints (.npy, .npz, .safetensors, .gguf)", "ckpt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ckpt ") + CKPT_VERSION);

  ckpt::app::InfoArgs info;
  auto* info_cmd = app.add_subcommand("info", "List a checkpoint's format, metadata and tensors (reads headers only)");
  info_cmd->add_option("file", info.path, "Checkpoint file (or *.safetensors.index.json)")->required();
  info_cmd->add_flag("--json", info.json, "Print one JSON object (stable; see README)");
  info_cmd->add_option("--root", info.root, "Only what lies under this dotted path, with the path stripped (e.g. model)");
  info_cmd->add_option("--max-meta-items", info.max_items, "Array items shown per metadata value in text output")
      ->default_val(8);

  ckpt::app::ConvertArgs conv;
  auto* conv_cmd = app.add_subcommand("convert", "Write a checkpoint in another format (from OUT's extension)");
  conv_cmd->add_option("input", conv.input, "Source checkpoint")->required();
  conv_cmd->add_option("output", conv.output, "Destination file; its extension picks the format")->required();
  conv_cmd->add_option("--dtype", conv.dtype, "Cast every floating tensor (and dequantize block types) to float16, bfloat16, float32 or float64");
  conv_cmd->add_option("--root", conv.root, "Convert only what lies under this dotted path, stripping it (e.g. model)");
  conv_cmd->add_option("--format", conv.format, "Target format when OUT's extension does not say: npy, npz, safetensors, gguf");
  conv_cmd->add_flag("--compress", conv.compress, ".npz: deflate members like np.savez_compressed");
  conv_cmd->add_option("--safetensors-format", conv.st_tag, "__metadata__ format tag: pt (default), mlx or none")
      ->check(CLI::IsMember({"pt", "mlx", "none"}));
  conv_cmd->add_option("--shard-size", conv.shard_size, ".safetensors: split into shards of at most this size (e.g. 5GB, 500MiB) plus an index");
  conv_cmd->add_option("--alignment", conv.alignment, ".gguf: data alignment (power of two)")->default_val(32);
  conv_cmd->add_flag("--verify", conv.verify, "Read the result back and compare every tensor");
  conv_cmd->add_flag("-q,--quiet", conv.quiet, "No progress output");
  conv_cmd->add_flag("--no-sync", conv.no_sync, "Do not fsync the result before renaming it into place (scratch output)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    if (*info_cmd) return ckpt::app::run_info(info);
    if (*conv_cmd) return ckpt::app::run_convert(conv);
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
