#pragma once
// The app's SVG icons (resources/icons), scaled crisply at any DPI.
#include <QIcon>

#include "io/checkpoint.h"

namespace ckpt::ui {

[[nodiscard]] QIcon appIcon();
[[nodiscard]] QIcon formatIcon(io::Format format);
[[nodiscard]] QIcon tensorIcon();
[[nodiscard]] QIcon groupIcon();

}  // namespace ckpt::ui
