#pragma once
// NumPy .npz: a zip archive of NAME.npy members, stored (np.savez) or
// deflated (np.savez_compressed). Zip structure lives in zip.{h,cpp}.
#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io::npz {

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
[[nodiscard]] Checkpoint open(const std::string& path);
// opt.compress chooses deflated members; member names are the tensor names + ".npy".
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::npz
