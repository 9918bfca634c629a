#pragma once
// What a model expects: parameter names with shapes (dtypes optional). From a
// JSON file (format in the README) or from any checkpoint.
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace ckpt::model {

struct SpecParam {
  std::string name;
  io::Shape shape;
  std::optional<io::DType> dtype;
};

struct ModuleSpec {
  std::string source;                  // file it came from
  std::vector<SpecParam> params;       // in file order
};

[[nodiscard]] ModuleSpec parse_spec(const std::string& json_text, const std::string& label);
// A JSON spec file, or any checkpoint (its tensors become the spec).
[[nodiscard]] ModuleSpec load_spec(const std::string& path);
[[nodiscard]] ModuleSpec spec_from_tensors(const std::vector<io::TensorInfo>& tensors, std::string source);
[[nodiscard]] std::string to_json(const ModuleSpec& spec);

}  // namespace ckpt::model
