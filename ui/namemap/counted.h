#pragma once
// "1 rule", "3 rules". The app ships no translations, and without one tr()'s
// %n leaves "rule(s)" as it is.
#include <QString>

namespace ckpt::ui {

[[nodiscard]] inline QString counted(long long n, const char* one, const char* many) {
  return QString::number(n) + QLatin1Char(' ') + QString::fromUtf8(n == 1 ? one : many);
}

}  // namespace ckpt::ui
