// ckpt_synth: writes a synthetic checkpoint of a given size and tensor count
// in any format, with constant memory (for bench/).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "io/error.h"
#include "io/open.h"
#include "tools/synthetic.h"

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic checkpoint for benchmarks", "ckpt_synth"};
  std::string out, dtype = "float32";
  std::size_t tensors = 1000;
  double megabytes = 4;
  bool compress = false;
  bool conv = false;
  bool transformer = false;
  app.add_option("output", out, "Output file (.npy .npz .safetensors .gguf)")->required();
  app.add_option("--tensors", tensors, "Number of tensors")->default_val(1000);
  app.add_option("--mb", megabytes, "Total data size in MB (10^6 bytes)")->default_val(4);
  app.add_option("--dtype", dtype, "Element type")->default_val("float32");
  app.add_flag("--compress", compress, ".npz: deflate members");
  app.add_flag("--conv", conv, "Conv2d weights [c, c, 3, 3] instead of matrices");
  app.add_flag("--transformer", transformer, "Name tensors like a Llama decoder (model.layers.N.self_attn.q_proj.weight)");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto dt = ckpt::io::from_name(dtype);
    if (!dt) throw ckpt::io::Error("", ckpt::io::kNoOffset, "unknown dtype " + dtype);
    const auto fmt = ckpt::io::format_from_extension(out);
    if (!fmt) throw ckpt::io::Error(out, ckpt::io::kNoOffset, "unknown output extension");
    auto t = ckpt::tools::synthetic_checkpoint(tensors, static_cast<std::uint64_t>(megabytes * 1e6), *dt, conv);
    if (transformer)
      for (std::size_t k = 0; k < t.size(); ++k) t[k].name = ckpt::tools::transformer_name(k);
    ckpt::io::WriteOptions opt;
    opt.compress = compress;
    ckpt::io::write_checkpoint(out, *fmt, t, {}, opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ckpt_synth: %s\n", e.what());
    return 2;
  }
  return 0;
}
