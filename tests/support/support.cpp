#include "tests/support/support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include "io/endian.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "tests/support/sha256.h"

namespace ckpt::test {
namespace fs = std::filesystem;

std::optional<fs::path> fixtures_dir() {
  if (const char* env = std::getenv("CKPT_FIXTURES")) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  fs::path p = fs::path(CKPT_SOURCE_DIR) / ".." / "shared" / "fixtures";
  if (fs::is_directory(p)) return fs::canonical(p);
  return std::nullopt;
}

std::vector<fs::path> fixture_files(const std::string& sub, const std::string& ext) {
  std::vector<fs::path> out;
  auto dir = fixtures_dir();
  if (!dir || !fs::is_directory(*dir / sub)) return out;
  for (const auto& e : fs::directory_iterator(*dir / sub)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0 &&
        fs::exists(e.path().string() + ".manifest.json"))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json load_manifest(const fs::path& data_file) {
  std::ifstream in(data_file.string() + ".manifest.json");
  // nlohmann::json sorts object keys; keep the file order of the metadata
  // keys (it is the order in the checkpoint) beside it for the order check.
  const auto ordered = nlohmann::ordered_json::parse(in);
  nlohmann::json j = nlohmann::json::parse(ordered.dump());
  if (ordered.contains("metadata") && ordered["metadata"].is_object()) {
    nlohmann::json order = nlohmann::json::array();
    for (auto it = ordered["metadata"].begin(); it != ordered["metadata"].end(); ++it) order.push_back(it.key());
    j["metadata_order"] = order;
  }
  return j;
}

namespace {

// Exact integer sums of 64-bit tensors need 128 bits.
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

std::string int128_to_string(i128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  u128 u = neg ? static_cast<u128>(-(v + 1)) + 1 : static_cast<u128>(v);
  std::string s;
  while (u) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  return neg ? "-" + s : s;
}

void expect_close(double got, double want, const std::string& what) {
  const double tol = 1e-9 * std::max(1.0, std::fabs(want));
  EXPECT_NEAR(got, want, tol) << what;
}

void check_values(const io::TensorInfo& t, const nlohmann::json& m, const std::vector<std::byte>& bytes) {
  const std::string who = "tensor '" + t.name + "'";
  const io::DType dt = t.dtype;
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<double> re, im;
  std::vector<float> deq;
  if (io::is_quantized(dt)) {
    if (!io::can_dequantize(dt)) return;
    deq.resize(n);
    io::dequantize(dt, bytes.data(), deq.data(), static_cast<std::int64_t>(n));
    re.assign(deq.begin(), deq.end());
  } else if (io::info(dt).block_elems > 1) {
    deq.resize(n);
    io::convert_to_f32(dt, bytes.data(), deq.data(), n);
    re.assign(deq.begin(), deq.end());
  } else {
    const std::size_t item = io::item_size(dt);
    re.resize(n);
    im.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      re[k] = io::element_to_double(dt, bytes.data() + k * item);
      im[k] = io::element_imag(dt, bytes.data() + k * item);
    }
  }
  const bool complex = io::info(dt).kind == io::DTypeKind::Complex;
  if (m.contains("sum")) {
    long double sr = 0, si = 0;
    for (std::size_t k = 0; k < n; ++k) {
      sr += re[k];
      if (complex) si += im[k];
    }
    if (complex) {
      expect_close(static_cast<double>(sr), m["sum"][0].get<double>(), who + " sum (real)");
      expect_close(static_cast<double>(si), m["sum"][1].get<double>(), who + " sum (imag)");
    } else if (!m["sum"].is_null()) {
      expect_close(static_cast<double>(sr), m["sum"].get<double>(), who + " sum");
    }
  }
  if (m.contains("sum_exact")) {
    i128 s = 0;
    const std::size_t item = io::item_size(dt);
    for (std::size_t k = 0; k < n; ++k) {
      const std::byte* p = bytes.data() + k * item;
      if (dt == io::DType::U64) s += io::load_le<std::uint64_t>(p);
      else if (dt == io::DType::I64) s += io::load_le<std::int64_t>(p);
      else s += static_cast<i128>(re[k]);
    }
    EXPECT_EQ(int128_to_string(s), m["sum_exact"].get<std::string>()) << who << " exact sum";
  }
  if (m.contains("first")) {
    const auto& first = m["first"];
    ASSERT_LE(first.size(), n) << who;
    for (std::size_t k = 0; k < first.size(); ++k) {
      if (complex) {
        EXPECT_EQ(re[k], first[k][0].get<double>()) << who << " first[" << k << "] real";
        EXPECT_EQ(im[k], first[k][1].get<double>()) << who << " first[" << k << "] imag";
      } else if (dt == io::DType::U64) {
        EXPECT_EQ(io::load_le<std::uint64_t>(bytes.data() + 8 * k), first[k].get<std::uint64_t>()) << who << " first[" << k << "]";
      } else if (dt == io::DType::I64) {
        EXPECT_EQ(io::load_le<std::int64_t>(bytes.data() + 8 * k), first[k].get<std::int64_t>()) << who << " first[" << k << "]";
      } else if (first[k].is_number()) {
        const double want = first[k].get<double>();
        if (std::isnan(want)) { EXPECT_TRUE(std::isnan(re[k])) << who; }
        else EXPECT_EQ(re[k], want) << who << " first[" << k << "]";
      }
    }
  }
}

}  // namespace

void expect_matches_manifest(const io::Checkpoint& ck, const nlohmann::json& manifest) {
  const auto& tensors = manifest["tensors"];
  ASSERT_EQ(ck.tensors.size(), tensors.size()) << "tensor count of " << ck.path;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& m = tensors[i];
    const std::string name = m["name"].get<std::string>();
    const io::TensorInfo* t = nullptr;
    for (const auto& c : ck.tensors)
      if (c.name == name) t = &c;
    ASSERT_NE(t, nullptr) << "missing tensor '" << name << "' in " << ck.path;
    EXPECT_EQ(ck.tensors[i].name, name) << "tensor order in " << ck.path;
    EXPECT_EQ(std::string(io::name(t->dtype)), m["dtype"].get<std::string>()) << name;
    EXPECT_EQ(t->shape, m["shape"].get<io::Shape>()) << name;
    if (m.contains("ggml_type_id")) {
      ASSERT_TRUE(t->ggml_type.has_value()) << name;
      EXPECT_EQ(*t->ggml_type, m["ggml_type_id"].get<std::uint32_t>()) << name;
      EXPECT_EQ(t->ggml_ne, m["ne"].get<std::vector<std::uint64_t>>()) << name;
    }
    if (m.contains("n_bytes")) { EXPECT_EQ(t->nbytes, m["n_bytes"].get<std::uint64_t>()) << name; }
    const auto bytes = io::read_all(*t);
    if (m.contains("raw_sha256")) { EXPECT_EQ(sha256_hex(bytes), m["raw_sha256"].get<std::string>()) << name << " raw bytes"; }
    if (m.contains("sha256_le") && !io::is_quantized(t->dtype) && !m.contains("raw_sha256")) {
      EXPECT_EQ(sha256_hex(bytes), m["sha256_le"].get<std::string>()) << name << " bytes";
    }
    check_values(*t, m, bytes);
  }
  // Metadata: null means none; safetensors gives strings; GGUF typed values in file order.
  const auto& meta = manifest["metadata"];
  if (manifest["format"] == "pytorch-zip" || manifest["format"] == "pytorch-legacy") return;
  if (meta.is_null()) {
    EXPECT_TRUE(ck.metadata.empty()) << ck.path;
    return;
  }
  ASSERT_EQ(ck.metadata.size(), meta.size()) << "metadata count of " << ck.path;
  std::size_t k = 0;
  for (auto it = meta.begin(); it != meta.end(); ++it, ++k) {
    const io::MetaValue* v = io::find(ck.metadata, it.key());
    ASSERT_NE(v, nullptr) << "missing metadata key " << it.key();
    if (it.value().is_string()) {
      EXPECT_EQ(v->type, io::MetaType::String) << it.key();
      EXPECT_EQ(v->s, it.value().get<std::string>()) << it.key();
      continue;
    }
    if (manifest.contains("metadata_order")) {
      EXPECT_EQ(ck.metadata[k].key, manifest["metadata_order"][k].get<std::string>()) << "metadata order";
    }
    const auto& entry = it.value();
    EXPECT_EQ(std::string(io::meta_type_name(v->type)), entry["type"].get<std::string>()) << it.key();
    if (entry.contains("element_type")) {
      EXPECT_EQ(std::string(io::meta_type_name(v->element_type)), entry["element_type"].get<std::string>()) << it.key();
    }
    EXPECT_EQ(io::to_json(*v), nlohmann::json(entry["value"])) << it.key();
  }
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "ckpt-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

bool have_python_numpy() {
  static const bool ok = run_python("import numpy", {}) == 0;
  return ok;
}

int run_python(const std::string& script, const std::vector<std::string>& args, std::string* out) {
  std::string cmd = "/usr/bin/python3 -c '";
  for (char c : script) {
    if (c == '\'') cmd += "'\\''";
    else cmd += c;
  }
  cmd += "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf{};
  std::string text;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  int status = ::pclose(p);
  if (out) *out = text;
  else if (status != 0) std::fprintf(stderr, "%s\n", text.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CliRun ckpt_cli(const std::string& args, const TempDir& dir, const std::string& env) {
  const char* cli = std::getenv("CKPT_CLI");
  const std::string bin = cli ? cli : std::string(CKPT_BINARY_DIR) + "/app/ckpt";
  const std::string err_file = dir.file("stderr.txt");
  const std::string cmd = env + "'" + bin + "' " + args + " 2>'" + err_file + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, "", "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  std::string err;
  if (std::FILE* f = std::fopen(err_file.c_str(), "r")) {
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) err.append(buf.data(), n);
    std::fclose(f);
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out, err};
}

std::vector<std::byte> pattern_bytes(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = std::byte(x >> 24);
  }
  return v;
}

ReadCounts read_counts() {
  std::ifstream in("/proc/self/io");
  ReadCounts c;
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "syscr:") c.calls = value;
    if (key == "rchar:") c.bytes = value;
  }
  return c;
}

std::vector<std::byte> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

void write_file_bytes(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

io::TensorInfo memory_tensor(std::string name, io::DType dtype, io::Shape shape, std::vector<std::byte> bytes) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = bytes.size();
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

io::TensorInfo random_tensor(std::string name, io::DType dtype, io::Shape shape, unsigned seed) {
  std::mt19937_64 rng(seed * 7919u + static_cast<unsigned>(dtype));
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  const std::uint64_t nbytes = io::byte_size(dtype, n).value();
  std::vector<std::byte> b(static_cast<std::size_t>(nbytes));
  std::uniform_real_distribution<float> uni(-2.0f, 2.0f);
  const auto kind = io::info(dtype).kind;
  const std::size_t item = io::item_size(dtype);
  if (kind == io::DTypeKind::Bool) {
    for (auto& x : b) x = std::byte(rng() & 1u);
  } else if (kind == io::DTypeKind::Float && item > 0) {
    std::vector<float> f(static_cast<std::size_t>(n));
    for (auto& x : f) x = uni(rng);
    if (dtype == io::DType::F64) {
      for (std::size_t k = 0; k < f.size(); ++k) {
        double d = static_cast<double>(f[k]) + 1e-12 * static_cast<double>(k);
        std::memcpy(b.data() + 8 * k, &d, 8);
      }
    } else {
      io::convert_from_f32(dtype, f.data(), b.data(), f.size());
    }
  } else if (kind == io::DTypeKind::Complex) {
    const std::size_t half = item / 2;
    for (std::size_t k = 0; k < static_cast<std::size_t>(n) * 2; ++k) {
      if (half == 4) {
        float v = uni(rng);
        std::memcpy(b.data() + 4 * k, &v, 4);
      } else {
        double v = uni(rng);
        std::memcpy(b.data() + 8 * k, &v, 8);
      }
    }
  } else {
    // Integers, packed sub-byte floats (every pattern is finite) and ggml
    // blocks (compared as raw bytes) take any bytes.
    for (auto& x : b) x = std::byte(static_cast<unsigned char>(rng()));
  }
  return memory_tensor(std::move(name), dtype, std::move(shape), std::move(b));
}

}  // namespace ckpt::test
