// SharedText: one string for all the tensors of a file (io/shared_text.h).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "io/open.h"
#include "io/shared_text.h"
#include "tests/support/support.h"

namespace ckpt {
namespace {

TEST(SharedText, ReadsAsItsStringAndCopiesShareIt) {
  const io::SharedText none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.str(), "");
  const io::SharedText a(std::string("/data/model.safetensors"));
  const io::SharedText b = a;
  EXPECT_EQ(&a.str(), &b.str());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, std::string("/data/model.safetensors"));
  EXPECT_EQ(a, "/data/model.safetensors");
  EXPECT_FALSE(a == io::SharedText("/data/other.gguf"));
  const std::string& s = a;
  EXPECT_EQ(s.size(), a.size());
  std::ostringstream o;
  o << a;
  EXPECT_EQ(o.str(), "/data/model.safetensors");
  io::SharedText c = b;
  c = "/x.npz";  // a new string; the others keep theirs
  EXPECT_EQ(c, "/x.npz");
  EXPECT_EQ(b, "/data/model.safetensors");
}

// Every reader gives all the tensors of one file the same string.
TEST(SharedText, EveryReaderSharesOneFileNameAcrossItsTensors) {
  test::TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (unsigned k = 0; k < 4; ++k) ts.push_back(test::random_tensor("t" + std::to_string(k), io::DType::F32, {2, 3}, k + 1));
  for (const char* ext : {".safetensors", ".gguf", ".npz", ".pt"}) {
    SCOPED_TRACE(ext);
    const std::string path = dir.file(std::string("m") + ext);
    io::write_checkpoint(path, *io::format_from_extension(path), ts, {}, {});
    const auto ck = io::open_checkpoint(path);
    ASSERT_EQ(ck.tensors.size(), 4u);
    for (const auto& t : ck.tensors) {
      EXPECT_EQ(t.file, path);
      EXPECT_EQ(&t.file.str(), &ck.tensors[0].file.str());
    }
  }
}

}  // namespace
}  // namespace ckpt
