#pragma once
// NumPy .npz: a zip archive of NAME.npy members, stored (np.savez) or
// deflated (np.savez_compressed). Zip structure lives in zip.{h,cpp}.
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io::npz {

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
// Only the tensors `names` (as describe() would list them), for a caller
// that needs no others: the zip structure is read and checked whole, then
// only those members' headers (a deflated archive of 50,000 members
// inflated every header to show one tensor). nullopt when a name is no
// array member or the archive repeats a member name: describe() then says
// what is wrong. The format detail ends "; N of M members read".
[[nodiscard]] std::optional<Checkpoint> describe_named(std::shared_ptr<const ByteSource> src,
                                                       std::span<const std::string> names);
[[nodiscard]] Checkpoint open(const std::string& path);
// opt.compress chooses deflated members; member names are the tensor names + ".npy".
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::npz
