#pragma once
// A string many records share: every tensor of one file names the same
// file, and 50,000 copies of its path were 2.4 MB of fresh memory and a
// tenth of listing them. Reads as a const std::string&; copying it copies
// a pointer. Assigning a plain string makes a new shared one.
#include <memory>
#include <ostream>
#include <string>

namespace ckpt::io {

class SharedText {
 public:
  SharedText() = default;
  SharedText(std::string s) : p_(std::make_shared<const std::string>(std::move(s))) {}  // NOLINT: implicit by design
  SharedText(const char* s) : SharedText(std::string(s)) {}                               // NOLINT

  [[nodiscard]] const std::string& str() const noexcept { return p_ ? *p_ : empty_text(); }
  operator const std::string&() const noexcept { return str(); }  // NOLINT: reads as the string
  [[nodiscard]] bool empty() const noexcept { return str().empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return str().size(); }
  [[nodiscard]] const char* c_str() const noexcept { return str().c_str(); }

  friend bool operator==(const SharedText& a, const SharedText& b) noexcept { return a.str() == b.str(); }
  friend bool operator==(const SharedText& a, const std::string& b) noexcept { return a.str() == b; }
  friend bool operator==(const SharedText& a, const char* b) noexcept { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& o, const SharedText& t) { return o << t.str(); }

 private:
  static const std::string& empty_text() noexcept {
    static const std::string empty;
    return empty;
  }
  std::shared_ptr<const std::string> p_;
};

}  // namespace ckpt::io
