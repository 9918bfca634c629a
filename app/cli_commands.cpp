#include "app/cli_commands.h"
#include "app/cli_exit.h"
#include "app/commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "io/convert.h"
#include "io/error.h"
#include "io/open.h"
#include "io/thread_pool.h"
#include "model/name_map.h"
#include "model/quantized.h"

namespace ckpt::app {

std::string human_bytes(std::uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string human_count(std::uint64_t n) {
  if (n < 1000) return std::to_string(n);
  static const char* units[] = {"", "K", "M", "B", "T"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, units[u]);
}

std::uint64_t parse_size(const std::string& text) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  double mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "k" || unit == "kb") mul = 1e3;
  else if (unit == "m" || unit == "mb") mul = 1e6;
  else if (unit == "g" || unit == "gb") mul = 1e9;
  else if (unit == "t" || unit == "tb") mul = 1e12;
  else if (unit == "kib") mul = 1024.0;
  else if (unit == "mib") mul = 1024.0 * 1024;
  else if (unit == "gib") mul = 1024.0 * 1024 * 1024;
  else if (unit == "tib") mul = 1024.0 * 1024 * 1024 * 1024;
  else throw std::invalid_argument("unknown size unit '" + unit + "' (use B, KB, MB, GB, KiB, MiB, GiB)");
  if (!(v > 0) || v * mul > 1.8e19) throw std::invalid_argument("size must be positive: '" + text + "'");
  return static_cast<std::uint64_t>(v * mul);
}

namespace {

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF) with no control character, quote or backslash:
// what nlohmann's dump copies through unchanged.
bool json_plain(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return false;
      ++p;
      continue;
    }
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) n = 2, lo = 0xA0;
    else if (c == 0xED) n = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) n = 3, hi = 0x8F;
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t k = 2; k <= n; ++k)
      if (p[k] < 0x80 || p[k] > 0xBF) return false;
    p += n + 1;
  }
  return true;
}

// A JSON string as nlohmann's dump writes it (UTF-8 kept, invalid bytes
// replaced). Well-formed UTF-8 without anything to escape (every tensor
// name nearly, and notes like "deflated 1152 → 1152 bytes", which went
// through nlohmann once per tensor) is copied directly; anything else goes
// through nlohmann so the output cannot differ.
void append_json_string(std::string& out, std::string_view s) {
  if (json_plain(s)) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// to_chars into a stack buffer: fmt's back_inserter path was a tenth of
// listing 50,000 tensors.
template <typename Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

template <typename Int>
void append_json_ints(std::string& out, const std::vector<Int>& v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_int(out, v[i]);
  }
  out += ']';
}

// One tensor's entry, formatted by hand byte for byte as nlohmann's
// compact dump would write it: a DOM per tensor made listing 50,000
// tensors take twice as long.
void append_tensor_json(std::string& out, const io::TensorInfo& t) {
  out += "  {\"name\":";
  append_json_string(out, t.name);
  out += ",\"dtype\":";
  append_json_string(out, io::name(t.dtype));
  out += ",\"shape\":";
  append_json_ints(out, t.shape);
  out += ",\"nbytes\":";
  append_int(out, t.nbytes);
  out += ",\"file\":";
  append_json_string(out, t.file.str());
  out += ",\"offset\":";
  append_int(out, t.offset);
  if (!t.layout_note.empty()) {
    out += ",\"layout\":";
    append_json_string(out, t.layout_note);
  }
  if (t.ggml_type) {
    out += ",\"ggml_ne\":";
    append_json_ints(out, t.ggml_ne);
    out += ",\"ggml_type\":";
    append_int(out, *t.ggml_type);
  }
  out += '}';
}

// Tensors per formatting task of print_json.
constexpr std::size_t kJsonRun = 2048;

// Written piece by piece (one small object per tensor) so that memory and
// time stay proportional to one tensor's entry, not to a DOM of the whole file.
void print_json(const io::Checkpoint& ck) {
  std::string out;
  out.reserve((std::size_t{1} << 20) + 4096);
  auto put = [&](std::string_view key, const nlohmann::ordered_json& v, bool last = false) {
    out += " ";
    out += nlohmann::json(key).dump();
    out += ": ";
    out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += last ? "\n" : ",\n";
  };
  out += "{\n";
  put("path", ck.path);
  put("format", io::format_name(ck.format));
  put("format_detail", ck.format_detail);
  auto files = nlohmann::ordered_json::array();
  for (const auto& f : ck.files) files.push_back(f->label());
  put("files", files);
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  nlohmann::ordered_json types = nlohmann::ordered_json::object();
  bool typed = false;
  for (const auto& e : ck.metadata) {
    meta[e.key] = io::to_json(e.value);
    std::string t = io::meta_type_name(e.value.type);
    if (e.value.type == io::MetaType::Array) t += std::string("[") + io::meta_type_name(e.value.element_type) + "]";
    types[e.key] = t;
    typed = typed || e.value.type != io::MetaType::String;
  }
  put("metadata", meta);
  if (ck.format == io::Format::Gguf || typed) put("metadata_types", types);
  out += " \"tensors\": [\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  out.clear();
  // Tensors are formatted in runs of kJsonRun on all cores, a window of
  // runs at a time, and written in order: formatting 50,000 entries was a
  // fifth of listing them. The output is the same on any number of threads.
  auto& pool = io::ThreadPool::shared();
  const std::size_t n = ck.tensors.size();
  const std::size_t runs = (n + kJsonRun - 1) / kJsonRun;
  std::vector<std::string> parts(std::min<std::size_t>(pool.threads(), std::max<std::size_t>(runs, 1)));
  for (std::size_t first = 0; first < runs; first += parts.size()) {
    const std::size_t now = std::min(parts.size(), runs - first);
    pool.parallel_for(now, [&](std::size_t j) {
      std::string& part = parts[j];
      part.clear();
      const std::size_t begin = (first + j) * kJsonRun, end = std::min(n, begin + kJsonRun);
      for (std::size_t k = begin; k < end; ++k) {
        append_tensor_json(part, ck.tensors[k]);
        part += k + 1 < n ? ",\n" : "\n";
      }
    });
    for (std::size_t j = 0; j < now; ++j) std::fwrite(parts[j].data(), 1, parts[j].size(), stdout);
  }
  out += " ],\n";
  put("totals", nlohmann::ordered_json{{"tensors", ck.tensors.size()}, {"parameters", ck.total_parameters()}, {"nbytes", ck.total_bytes()}}, true);
  out += "}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void print_text(const io::Checkpoint& ck, std::size_t max_items) {
  fmt::print("file:       {}\n", ck.path);
  const std::string fname = io::format_name(ck.format);
  if (ck.format_detail.empty()) fmt::print("format:     {}\n", fname);
  else if (ck.format_detail.rfind(fname, 0) == 0) fmt::print("format:     {}\n", ck.format_detail);
  else fmt::print("format:     {} — {}\n", fname, ck.format_detail);
  fmt::print("tensors:    {}\n", ck.tensors.size());
  fmt::print("parameters: {} ({})\n", ck.total_parameters(), human_count(ck.total_parameters()));
  fmt::print("size:       {} ({} bytes)\n", human_bytes(ck.total_bytes()), ck.total_bytes());
  if (!ck.metadata.empty()) {
    fmt::print("metadata ({} entries):\n", ck.metadata.size());
    for (const auto& e : ck.metadata) {
      std::string type = e.value.type == io::MetaType::String ? "" : std::string(" (") + io::meta_type_name(e.value.type) + ")";
      if (e.value.type == io::MetaType::Array)
        type = fmt::format(" ({}[{}])", io::meta_type_name(e.value.element_type), e.value.items.size());
      fmt::print("  {}{}: {}\n", e.key, type, io::to_display(e.value, max_items));
    }
  }
  std::size_t wn = 4, wd = 5, ws = 5;
  std::vector<std::string> shapes;  // each made once: the column width needs them all first
  shapes.reserve(ck.tensors.size());
  for (const auto& t : ck.tensors) {
    wn = std::max(wn, t.name.size());
    wd = std::max(wd, io::name(t.dtype).size());
    shapes.push_back(shape_text(t.shape));
    ws = std::max(ws, shapes.back().size());
  }
  wn = std::min<std::size_t>(wn, 80);
  fmt::print("{:<{}}  {:<{}}  {:<{}}  {:>12}\n", "name", wn, "dtype", wd, "shape", ws, "bytes");
  // Lines gathered and written a megabyte at a time: a print per line, and
  // fmt measuring the display width of every name, were a quarter of
  // listing 50,000 tensors. ASCII text is as wide as it is long; anything
  // else is padded by fmt, as before.
  fmt::memory_buffer out;
  auto column = [&out](std::string_view s, std::size_t width) {
    if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      out.append(s);
      for (std::size_t n = s.size(); n < width; ++n) out.push_back(' ');
    } else {
      fmt::format_to(std::back_inserter(out), "{:<{}}", s, width);
    }
  };
  for (std::size_t k = 0; k < ck.tensors.size(); ++k) {
    const auto& t = ck.tensors[k];
    std::string extra;
    if (t.ggml_type && t.dtype == io::DType::GgmlUnknown) extra = fmt::format("  (ggml type id {})", *t.ggml_type);
    else if (!t.layout_note.empty()) extra = "  (" + t.layout_note + ")";
    column(t.name, wn);
    out.append(std::string_view("  "));
    column(io::name(t.dtype), wd);
    out.append(std::string_view("  "));
    column(shapes[k], ws);
    fmt::format_to(std::back_inserter(out), "  {:>12}{}\n", t.nbytes, extra);
    if (out.size() >= (std::size_t{1} << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

io::Format target_format(const ConvertArgs& a) {
  if (!a.format.empty()) {
    for (auto f : {io::Format::Npy, io::Format::Npz, io::Format::Safetensors, io::Format::Gguf, io::Format::PyTorch})
      if (a.format == io::format_name(f)) return f;
    throw io::Error(a.output, io::kNoOffset, "unknown --format '" + a.format + "'; use npy, npz, safetensors, gguf or pytorch");
  }
  auto f = io::format_from_extension(a.output);
  if (!f) throw io::Error(a.output, io::kNoOffset, "cannot tell the output format from the file name; use .npy, .npz, .safetensors, .gguf or .pt, or pass --format");
  if (a.output.size() > 11 && a.output.ends_with(".index.json"))
    throw io::Error(a.output, io::kNoOffset, "give the output as NAME.safetensors with --shard-size to write shards and an index");
  return *f;
}

}  // namespace

int run_info(const InfoArgs& args) {
  const auto& ck = keep_until_exit(io::open_checkpoint(args.path, {args.root}));
  if (args.json) print_json(ck);
  else print_text(ck, args.max_items);
  return 0;
}

int run_convert(const ConvertArgs& a) {
  auto& src = keep_until_exit(io::open_checkpoint(a.input, {a.root}));
  std::vector<std::string> notes;
  if (a.mlx_quantized) {
    // GGUF Q4_0/Q4_1/Q8_0 become MLX affine triples exactly as MLX loads
    // them: no round trip through floats.
    std::vector<io::TensorInfo> out;
    std::size_t n = 0;
    int bits = 0;
    for (auto& t : src.tensors) {
      if (t.dtype == io::DType::Q4_0 || t.dtype == io::DType::Q4_1 || t.dtype == io::DType::Q8_0) {
        auto q = model::ggml_to_mlx_quantized(t);
        bits = bits == 0 || bits == q.params.bits ? q.params.bits : -1;
        out.push_back(std::move(q.weight));
        out.push_back(std::move(q.scales));
        out.push_back(std::move(q.biases));
        ++n;
      } else {
        out.push_back(std::move(t));
      }
    }
    src.tensors = std::move(out);
    notes.push_back(std::to_string(n) + " GGUF tensors became MLX quantized triples (group size 32" +
                    (bits > 0 ? ", " + std::to_string(bits) + " bits" : ", mixed bits") +
                    "); MLX's model config needs the same \"quantization\" entry");
  }
  if (!a.map.empty()) {
    // The map runs before the cast and the target check, so a dropped tensor
    // never has to be storable and a renamed one is checked under its new name.
    const auto map = model::load_map(a.map);
    model::MapReport rep;
    try {
      src.tensors = model::apply_map(map, src.tensors, &rep);
    } catch (const io::Error&) {
      for (const auto& [target, sources] : rep.conflicts) {
        std::string s;
        for (const auto& x : sources) s += (s.empty() ? "'" : ", '") + x + "'";
        fmt::print(stderr, "map conflict: '{}' would come from {}\n", target, s);
      }
      for (const auto& e : rep.errors) fmt::print(stderr, "map error: {}\n", e);
      throw;
    }
    std::size_t dropped = 0;
    for (const auto& e : rep.entries) dropped += e.dropped ? 1 : 0;
    if (!a.quiet) {
      for (int i : rep.unused_rules)
        fmt::print(stderr, "map: rule {} ({}) matched nothing\n", i, map.rules[static_cast<std::size_t>(i)].pattern);
      for (const auto& n : rep.notes) fmt::print(stderr, "map note: {}\n", n);
      fmt::print(stderr, "map: {} tensors in, {} out ({} dropped)\n", rep.entries.size(), src.tensors.size(), dropped);
    }
  }
  const auto target = target_format(a);
  std::optional<io::DType> cast;
  if (!a.dtype.empty()) {
    cast = io::from_name(a.dtype);
    if (!cast || !io::is_cast_target(*cast))
      throw io::Error("", io::kNoOffset, "--dtype must be float16, bfloat16, float32 or float64, not '" + a.dtype + "'");
  }
  io::WriteOptions opt;
  opt.compress = a.compress;
  opt.safetensors_tag = a.st_tag == "mlx" ? io::SafetensorsTag::Mlx : a.st_tag == "none" ? io::SafetensorsTag::None : io::SafetensorsTag::Pt;
  if (!a.shard_size.empty()) {
    try {
      opt.max_shard_bytes = parse_size(a.shard_size);
    } catch (const std::exception& e) {
      throw io::Error("", io::kNoOffset, std::string("--shard-size: ") + e.what());
    }
  }
  opt.gguf_alignment = a.alignment;
  opt.sync = !a.no_sync;
  const bool show = !a.quiet && ::isatty(STDERR_FILENO);
  auto last = std::chrono::steady_clock::now();
  if (show) {
    opt.on_progress = [&](const io::Progress& p) {
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::milliseconds(200) && p.bytes_done < p.bytes_total) return;
      last = now;
      const double pct = p.bytes_total ? 100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 100.0;
      fmt::print(stderr, "\r{:5.1f}%  {}/{}  {:<60.60}", pct, p.tensor_index + 1, p.tensor_count, p.tensor_name);
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto result = io::convert(src, a.output, target, cast, opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (show) fmt::print(stderr, "\r{:<90}\r", "");
  notes.insert(notes.end(), result.notes.begin(), result.notes.end());
  if (!a.json) {
    for (const auto& n : notes) fmt::print(stderr, "note: {}\n", n);
    if (!a.quiet)
      fmt::print(stderr, "wrote {} ({} tensors, {}) in {:.2f} s\n", a.output, result.tensors, human_bytes(result.bytes), secs);
  }
  nlohmann::ordered_json summary{{"input", a.input}, {"output", a.output}, {"format", io::format_name(target)},
                                 {"tensors", result.tensors}, {"nbytes", result.bytes}, {"seconds", secs},
                                 {"notes", notes}, {"verified", nullptr}};
  int code = 0;
  if (a.verify) {
    std::vector<io::TensorInfo> copies;
    const auto expected = io::tensors_to_write(src, target, cast, copies);
    const auto written = io::open_checkpoint(target == io::Format::Safetensors && opt.max_shard_bytes > 0 &&
                                                     result.bytes > opt.max_shard_bytes
                                                 ? a.output.substr(0, a.output.size() - 12) + ".safetensors.index.json"
                                                 : a.output);
    const auto diffs = io::verify_written(expected, written);
    for (const auto& d : diffs) fmt::print(stderr, "verify: {}\n", d);
    summary["verified"] = diffs.empty();
    summary["differences"] = diffs;
    if (!diffs.empty()) code = 2;
    else if (!a.quiet && !a.json) fmt::print(stderr, "verified: every tensor reads back identical\n");
  }
  if (a.json) fmt::print("{}\n", summary.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  return code;
}

void add_info(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = app.add_subcommand("info", "List a checkpoint's format, metadata and tensors (reads headers only)");
  cmd->add_option("file", args->path, "Checkpoint file (or *.safetensors.index.json, pytorch_model.bin.index.json)")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object (stable; see README)");
  cmd->add_option("--root", args->root, "Only what lies under this dotted path, with the path stripped (e.g. model)");
  cmd->add_option("--max-meta-items", args->max_items, "Array items shown per metadata value in text output")->default_val(8);
  cmd->callback([args, &ctx] { ctx.exit_code = run_info(*args); });
}

void add_convert(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand("convert", "Write a checkpoint in another format (from OUT's extension)");
  cmd->add_option("input", a->input, "Source checkpoint")->required();
  cmd->add_option("output", a->output, "Destination file; its extension picks the format")->required();
  cmd->add_option("--dtype", a->dtype, "Cast every floating tensor (and dequantize block types) to float16, bfloat16, float32 or float64");
  cmd->add_option("--root", a->root, "Convert only what lies under this dotted path, stripping it (e.g. model)");
  cmd->add_option("--format", a->format, "Target format when OUT's extension does not say: npy, npz, safetensors, gguf, pytorch");
  cmd->add_flag("--compress", a->compress, ".npz: deflate members like np.savez_compressed");
  cmd->add_option("--safetensors-format,--meta-format", a->st_tag, "__metadata__ format tag: pt (default), mlx or none")
      ->check(CLI::IsMember({"pt", "mlx", "none"}));
  cmd->add_option("--shard-size", a->shard_size, ".safetensors: split into shards of at most this size (e.g. 5GB, 500MiB) plus an index");
  cmd->add_option("--alignment", a->alignment, ".gguf: data alignment (power of two)")->default_val(32);
  cmd->add_option("--map", a->map, "Apply a name map first: a map JSON file or a preset (pytorch-to-mlx, mlx-to-pytorch)");
  cmd->add_flag("--verify", a->verify, "Read the result back and compare every tensor");
  cmd->add_flag("--no-sync", a->no_sync, "Do not fsync the result before renaming it into place (scratch output)");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  cmd->add_flag("--json", a->json, "Print a JSON summary (output, tensors, bytes, seconds, notes, verified) on stdout");
  cmd->add_flag("--mlx-quantized", a->mlx_quantized, "Turn GGUF Q4_0/Q4_1/Q8_0 tensors into MLX quantized triples (weight, scales, biases) losslessly");
  cmd->callback([a, &ctx] { ctx.exit_code = run_convert(*a); });
}

}  // namespace ckpt::app
