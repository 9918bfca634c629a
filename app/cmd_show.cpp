// ckpt show: a 2-D window of a tensor's values as a table.
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli_exit.h"
#include "app/commands.h"
#include "io/error.h"
#include "io/open.h"
#include "model/tensor_stats.h"

namespace ckpt::app {

const io::TensorInfo& find_tensor(const io::Checkpoint& ck, const std::string& name);  // cmd_stats.cpp

namespace {

struct ShowArgs {
  std::string path, name, slice, root;
  std::int64_t rows = 8, cols = 8;
  bool json = false, transpose = false;
};

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

std::int64_t parse_int(const std::string& text, const ShowArgs& a) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw io::Error(a.path, io::kNoOffset, "--slice '" + a.slice + "': '" + text + "' is not an integer, ':' or 'a:b'");
  return v;
}

// Negative positions count from the end, as in NumPy.
std::int64_t resolve(std::int64_t i, std::int64_t dim) { return i < 0 ? i + dim : i; }

// "i,:,j,a:b" → window over the two range axes, the integer axes fixed.
model::Window parse_slice(const ShowArgs& a, const io::Shape& shape) {
  model::Window w;
  const auto rank = static_cast<int>(shape.size());
  w.rows = a.rows;
  w.cols = a.cols;
  if (a.slice.empty()) {
    w.row_axis = std::max(0, rank - 2);
    w.col_axis = std::max(0, rank - 1);
    w.index.assign(shape.size(), 0);
  } else {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
      const auto comma = a.slice.find(',', start);
      std::string p = a.slice.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      p.erase(0, p.find_first_not_of(' '));
      p.erase(p.find_last_not_of(' ') + 1);
      parts.push_back(p);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (static_cast<int>(parts.size()) != std::max(rank, 1))
      throw io::Error(a.path, io::kNoOffset,
                      "--slice '" + a.slice + "' has " + std::to_string(parts.size()) + " entries but '" + a.name +
                          "' has " + std::to_string(rank) + " axes " + shape_text(shape));
    std::vector<int> ranges;
    w.index.assign(shape.size(), 0);
    std::int64_t start_of[2] = {0, 0}, length_of[2] = {a.rows, a.cols};
    for (int k = 0; k < static_cast<int>(parts.size()); ++k) {
      const std::int64_t dim = rank == 0 ? 1 : shape[static_cast<std::size_t>(k)];
      const auto& p = parts[static_cast<std::size_t>(k)];
      const auto colon = p.find(':');
      if (colon == std::string::npos) {
        if (rank == 0) throw io::Error(a.path, io::kNoOffset, "--slice for a 0-d tensor can only be ':'");
        const auto i = resolve(parse_int(p, a), dim);
        if (i < 0 || i >= dim)
          throw io::Error(a.path, io::kNoOffset,
                          "--slice '" + a.slice + "': index " + p + " is out of range for axis " + std::to_string(k) +
                              " of size " + std::to_string(dim));
        w.index[static_cast<std::size_t>(k)] = i;
        continue;
      }
      if (ranges.size() == 2)
        throw io::Error(a.path, io::kNoOffset, "--slice '" + a.slice + "' must have exactly two ':' or 'a:b' entries");
      const std::string lo = p.substr(0, colon), hi = p.substr(colon + 1);
      const std::size_t slot = ranges.size();
      const std::int64_t b = lo.empty() ? 0 : std::clamp<std::int64_t>(resolve(parse_int(lo, a), dim), 0, dim);
      start_of[slot] = b;
      if (!hi.empty()) {
        const std::int64_t e = std::clamp<std::int64_t>(resolve(parse_int(hi, a), dim), 0, dim);
        length_of[slot] = std::max<std::int64_t>(0, e - b);
      }
      ranges.push_back(k);
    }
    const std::size_t need = rank >= 2 ? 2 : 1;
    if (ranges.size() != need)
      throw io::Error(a.path, io::kNoOffset,
                      "--slice '" + a.slice + "' must have exactly " + std::to_string(need) + " ':' or 'a:b' " +
                          (need == 2 ? "entries" : "entry"));
    if (rank >= 2) {
      w.row_axis = ranges[0];
      w.col_axis = ranges[1];
      w.row0 = start_of[0];
      w.rows = length_of[0];
      w.col0 = start_of[1];
      w.cols = length_of[1];
    } else {
      w.col0 = start_of[0];
      w.cols = length_of[0];
      w.rows = 1;
    }
  }
  if (rank < 2) w.rows = 1;
  if (a.transpose && rank >= 2) {
    std::swap(w.row_axis, w.col_axis);
    std::swap(w.row0, w.col0);
    std::swap(w.rows, w.cols);
  }
  return w;
}

bool integral(io::DType t) {
  const auto k = io::info(t).kind;
  return k == io::DTypeKind::Bool || k == io::DTypeKind::Signed || k == io::DTypeKind::Unsigned;
}

std::string cell(double v, bool ints) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (ints) return fmt::format("{:.0f}", v);
  return fmt::format("{:.6g}", v);
}

int run_show(const ShowArgs& a) {
  const auto& ck = keep_until_exit(io::open_for_tensors(a.path, std::span(&a.name, 1), {a.root}));
  const auto& t = find_tensor(ck, a.name);
  if (a.rows < 0 || a.cols < 0) throw io::Error(a.path, io::kNoOffset, "--rows and --cols cannot be negative");
  const auto w = parse_slice(a, t.shape);
  const auto v = model::read_window(t, w);
  const auto rank = t.shape.size();
  const bool ints = integral(t.dtype);
  if (a.json) {
    nlohmann::ordered_json o;
    o["name"] = t.name;
    o["dtype"] = io::name(t.dtype);
    o["shape"] = t.shape;
    o["row_axis"] = rank >= 2 ? w.row_axis : -1;
    o["col_axis"] = rank >= 1 ? (rank >= 2 ? w.col_axis : 0) : -1;
    o["index"] = w.index;
    o["row0"] = rank >= 2 ? w.row0 : 0;
    o["col0"] = w.col0;
    o["rows"] = v.rows;
    o["cols"] = v.cols;
    auto rows = nlohmann::ordered_json::array();
    for (std::int64_t r = 0; r < v.rows; ++r) {
      auto row = nlohmann::ordered_json::array();
      for (std::int64_t c = 0; c < v.cols; ++c) {
        const double x = v.values[static_cast<std::size_t>(r * v.cols + c)];
        // JSON has no NaN/Infinity: written as the strings Python's json module reads back.
        if (std::isnan(x)) row.push_back("NaN");
        else if (std::isinf(x)) row.push_back(x > 0 ? "Infinity" : "-Infinity");
        else row.push_back(x);
      }
      rows.push_back(std::move(row));
    }
    o["values"] = std::move(rows);
    fmt::print("{}\n", o.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  fmt::print("{}  {} {}\n", t.name, io::name(t.dtype), shape_text(t.shape));
  if (v.rows == 0 || v.cols == 0) {
    fmt::print("(empty window)\n");
    return 0;
  }
  const std::int64_t row0 = rank >= 2 ? w.row0 : 0;
  if (rank >= 2) {
    std::string where;
    for (std::size_t k = 0; k < rank; ++k) {
      if (static_cast<int>(k) == w.row_axis) where += fmt::format("{}{}:{}", k ? "," : "", w.row0, w.row0 + v.rows);
      else if (static_cast<int>(k) == w.col_axis) where += fmt::format("{}{}:{}", k ? "," : "", w.col0, w.col0 + v.cols);
      else where += fmt::format("{}{}", k ? "," : "", w.index[k]);
    }
    fmt::print("window [{}]  rows: axis {}, columns: axis {}\n", where, w.row_axis, w.col_axis);
  } else if (rank == 1) {
    fmt::print("window [{}:{}]\n", w.col0, w.col0 + v.cols);
  }
  std::vector<std::string> cells(v.values.size());
  std::size_t width = 1;
  for (std::size_t k = 0; k < cells.size(); ++k) {
    cells[k] = cell(v.values[k], ints);
    width = std::max(width, cells[k].size());
  }
  const std::size_t label = std::to_string(row0 + v.rows - 1).size();
  std::string line(label, ' ');
  for (std::int64_t c = 0; c < v.cols; ++c) line += fmt::format("  {:>{}}", w.col0 + c, width);
  fmt::print("{}\n", line);
  for (std::int64_t r = 0; r < v.rows; ++r) {
    line = fmt::format("{:>{}}", row0 + r, label);
    for (std::int64_t c = 0; c < v.cols; ++c)
      line += fmt::format("  {:>{}}", cells[static_cast<std::size_t>(r * v.cols + c)], width);
    fmt::print("{}\n", line);
  }
  return 0;
}

}  // namespace

void add_show(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ShowArgs>();
  auto* cmd = app.add_subcommand("show", "Print a 2-D window of a tensor's values as a table");
  cmd->add_option("file", a->path, "Checkpoint file")->required();
  cmd->add_option("name", a->name, "Tensor name")->required();
  cmd->add_option("--slice", a->slice,
                  "NumPy-like selection: two ':' or 'a:b' entries (the window's rows and columns) and an integer for "
                  "every other axis, e.g. \"0,:,3,:\" (default: the last two axes, others 0)");
  cmd->add_option("--rows", a->rows, "Rows shown for an open ':' entry")->default_val(8);
  cmd->add_option("--cols", a->cols, "Columns shown for an open ':' entry")->default_val(8);
  cmd->add_flag("--transpose", a->transpose, "Swap the window's rows and columns");
  cmd->add_option("--root", a->root, "Only what lies under this dotted path, with the path stripped");
  cmd->add_flag("--json", a->json, "Print one JSON object with the window's values as nested arrays");
  cmd->callback([a, &ctx] { ctx.exit_code = run_show(*a); });
}

}  // namespace ckpt::app
