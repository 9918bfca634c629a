#pragma once
// Scripted start-up for ckpt-inspector: set the window up from the command
// line (page, name map, comparison, selection, filter, export dialog) and
// optionally save an image and exit. Used for the README's screenshots and
// the smoke test; everything goes through the same calls a user triggers.
#include <QSize>
#include <QString>

namespace ckpt::ui {
class MainWindow;
}

struct InspectorScript {
  QString page;        // tensors | values | metadata | compare | namemap
  QString map;         // a name map file or preset, applied to every tab
  QString compare;     // a module spec (.json) or a checkpoint to compare with
  QString select;      // a tensor to select
  QString filter;      // text typed into the filter box
  bool export_dialog = false;  // open File › Export… (and grab it instead of the window)
  QString screenshot;  // save a PNG here and exit (status 0 when everything opened)
  QSize size;          // window size for the screenshot
};

// Runs once every tab has loaded (or failed); returns at once.
void runInspectorScript(ckpt::ui::MainWindow& window, const InspectorScript& script);
