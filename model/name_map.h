#pragma once
// Name maps: an ordered list of rules that rename, drop and re-lay-out the
// tensors of a checkpoint (PyTorch names → MLX names, conv OIHW → OHWI).
// The first rule that matches a name decides; unmapped names pass through
// unless the map says otherwise. Saved as JSON (format in the README).
#include <atomic>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/module_spec.h"

namespace ckpt::model {

struct Transform {
  enum class Kind { Permute, Transpose, Cast, Dequantize };
  Kind kind = Kind::Permute;
  std::vector<int> perm;        // Permute: output axis k takes input axis perm[k]
  io::DType dtype = io::DType::F32;  // Cast / Dequantize target
  bool operator==(const Transform&) const = default;
};

struct Rule {
  enum class Match { Exact, Prefix, Regex };
  Match match = Match::Exact;
  std::string pattern;
  std::string replace;          // Prefix: replaces the prefix; Regex: ECMAScript replacement with $1…
  bool drop = false;
  std::optional<int> rank;      // apply only to tensors of this rank (e.g. 4 for Conv2d weights)
  std::vector<Transform> transforms;
  std::string note;             // why the rule exists, shown in reports
};

enum class Unmapped { Keep, Drop, Error };

struct NameMap {
  std::vector<Rule> rules;
  Unmapped unmapped = Unmapped::Keep;
};

// JSON text ↔ NameMap. Parse errors throw io::Error(path, kNoOffset, sentence) naming the rule.
[[nodiscard]] NameMap parse_map(const std::string& json_text, const std::string& label);
[[nodiscard]] std::string to_json(const NameMap& map);
// A file path, or a preset name ("pytorch-to-mlx", "mlx-to-pytorch").
[[nodiscard]] NameMap load_map(const std::string& path_or_preset);
[[nodiscard]] std::vector<std::string> preset_names();
// The inverse map, when every rule is a rename or permutation; nullopt otherwise (with the reason).
[[nodiscard]] std::optional<NameMap> invert(const NameMap& map, std::string* why_not = nullptr);

struct MapEntry {
  std::string source;           // name in the checkpoint
  std::string target;           // name after the map (empty when dropped)
  int rule = -1;                // index of the rule that matched, -1 none
  bool dropped = false;
  std::vector<Transform> transforms;
  io::Shape source_shape, target_shape;
  io::DType source_dtype = io::DType::F32, target_dtype = io::DType::F32;
};

struct MapReport {
  std::vector<MapEntry> entries;                       // one per source tensor, in source order
  std::vector<std::pair<std::string, std::vector<std::string>>> conflicts;  // target ← several sources
  std::vector<int> unused_rules;                       // rules that matched nothing
  std::vector<std::string> errors;                     // e.g. "permutation (0, 2, 3, 1) does not fit 'x' of rank 2"
  std::vector<std::string> notes;                      // worth knowing, not wrong (tied weights, quantized triples)
  [[nodiscard]] bool ok() const { return conflicts.empty() && errors.empty(); }
};

// Thrown by plan_map when its `abandon` flag is set: a caller that no
// longer wants the plan (a newer request, a closing window) need not wait.
struct PlanAbandoned : std::exception {
  [[nodiscard]] const char* what() const noexcept override { return "the name-map plan was abandoned"; }
};

// Names and shapes only (no data touched). `abandon`, when given, is read
// once per tensor; once true, plan_map throws PlanAbandoned.
[[nodiscard]] MapReport plan_map(const NameMap& map, std::span<const io::TensorInfo> tensors,
                                 const std::atomic<bool>* abandon = nullptr);
// The mapped tensors, data transformed lazily while streaming (permuted copies,
// casts, dequantization). Throws io::Error when the report has conflicts or errors.
[[nodiscard]] std::vector<io::TensorInfo> apply_map(const NameMap& map, std::span<const io::TensorInfo> tensors,
                                                    MapReport* report = nullptr);

// One line about a preset (for `ckpt map presets`); empty for an unknown name.
[[nodiscard]] std::string preset_description(const std::string& name);

// Names that share one storage (tied weights, e.g. lm_head.weight and the
// embedding): same file range, same mapped bytes, or same source and offset.
// Groups of two or more names, each in source order.
[[nodiscard]] std::vector<std::vector<std::string>> find_tied(std::span<const io::TensorInfo> tensors);

// A map that turns `tensors` into what `spec` expects: exact rules for names
// that only need a permutation, prefix rules for unique suffix matches
// ("model.encoder.x" vs "encoder.x"), permutations where the shapes match
// after one (conv layouts preferred), drops for known non-parameter buffers.
[[nodiscard]] NameMap suggest_map(std::span<const io::TensorInfo> tensors, const ModuleSpec& spec);

}  // namespace ckpt::model
