#!/usr/bin/env bash
# Builds the .deb (CPack, from build/) and smoke-tests it the way a user's
# machine would meet it, without installing it on this one:
#   - Depends computed by dpkg-shlibdeps, listed;
#   - unpacked into a temporary root (dpkg -x): every binary's libraries
#     resolve (ldd), ckpt --version matches CMake's version, ckpt info reads
#     the installed sample, the desktop app starts with -platform offscreen
#     and draws the sample, and keeps running for a second when left alone;
#   - the desktop file, AppStream metadata and MIME definitions pass their
#     validators (desktop-file-validate, appstreamcli, update-mime-database),
#     the zsh completion parses, and the man pages render without warnings.
#
#   scripts/package.sh          # leaves build/ckpt-inspector_<version>_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

./scripts/setup.sh
need=()
for p in dpkg-dev file desktop-file-utils appstream shared-mime-info zsh man-db; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "package: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

./scripts/build.sh
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' build/CMakeCache.txt)
rm -f build/ckpt-inspector_*.deb
(cd build && cpack -G DEB >cpack.log 2>&1) || { cat build/cpack.log; exit 1; }
deb=$(ls build/ckpt-inspector_"$version"_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
depends=$(dpkg-deb -f "$deb" Depends)
echo "package: Depends: $depends"
for lib in libqt6widgets6 libqt6svg6 libc6 libstdc++6; do
  [[ $depends == *"$lib"* ]] || { echo "package: Depends lacks $lib" >&2; exit 1; }
done

# apt resolves every Depends against Debian's package lists (a simulation:
# nothing is installed on this machine).
sim=$(apt-get install -s -q "$ROOT/$deb" 2>&1) || { echo "$sim" >&2; echo "package: apt-get cannot install the package" >&2; exit 1; }
grep -q "^Inst ckpt-inspector " <<<"$sim" || { echo "$sim" >&2; echo "package: apt-get would not install ckpt-inspector" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
fail() { echo "package: $*" >&2; exit 1; }

# Everything a user expects where the freedesktop specifications put it.
id=io.github.checkpoint_inspector.CheckpointInspector
for f in usr/bin/ckpt usr/bin/ckpt-inspector usr/share/applications/$id.desktop usr/share/metainfo/$id.metainfo.xml \
         usr/share/mime/packages/checkpoint-inspector-mime.xml usr/share/icons/hicolor/scalable/apps/$id.svg \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-safetensors.svg \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-gguf.svg \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-npy.svg \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-npz.svg \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-pytorch.svg \
         usr/share/man/man1/ckpt.1 usr/share/man/man1/ckpt-inspector.1 \
         usr/share/bash-completion/completions/ckpt usr/share/zsh/vendor-completions/_ckpt \
         usr/share/ckpt-inspector/sample.safetensors; do
  [ -e "$root/$f" ] || fail "the package lacks /$f"
done

# Libraries: every one resolves from the system (the package bundles none).
for exe in "$root"/usr/bin/*; do
  if ldd "$exe" | grep -q "not found"; then
    ldd "$exe" | grep "not found" >&2
    fail "$(basename "$exe") needs a library that is not installed"
  fi
  file "$exe" | grep -q "stripped" && ! file "$exe" | grep -q "not stripped" || fail "$(basename "$exe") is not stripped"
done

bin=$root/usr/bin
[ "$("$bin/ckpt" --version)" = "ckpt $version" ] || fail "ckpt --version says '$("$bin/ckpt" --version)', not 'ckpt $version'"
"$bin/ckpt" info "$root/usr/share/ckpt-inspector/sample.safetensors" >"$root/info.txt"
grep -q "safetensors" "$root/info.txt" || fail "ckpt info did not describe the sample"
[ "$("$bin/ckpt-inspector" -platform offscreen --version)" = "Checkpoint Inspector $version" ] ||
  fail "ckpt-inspector --version says '$("$bin/ckpt-inspector" -platform offscreen --version)'"

# The app, started with no file, finds the installed sample beside it
# (../share/ckpt-inspector) and draws it (--select fails when no checkpoint
# is open); left alone it keeps running.
export XDG_CONFIG_HOME=$root/config
"$bin/ckpt-inspector" -platform offscreen --select vision.bn1.bias --screenshot "$root/shot.png" >"$root/gui.log" 2>&1 ||
  { cat "$root/gui.log"; fail "ckpt-inspector did not start"; }
[ -s "$root/shot.png" ] || fail "ckpt-inspector drew nothing"
set +e
timeout 1 "$bin/ckpt-inspector" -platform offscreen >"$root/gui.log" 2>&1
code=$?
set -e
[ "$code" -eq 124 ] || { cat "$root/gui.log"; fail "ckpt-inspector exited with $code within a second instead of running"; }

# Validators.
desktop-file-validate "$root/usr/share/applications/$id.desktop"
appstreamcli validate --no-net "$root/usr/share/metainfo/$id.metainfo.xml"
mkdir -p "$root/mime-check/mime/packages"
cp /usr/share/mime/packages/*.xml "$root/usr/share/mime/packages/checkpoint-inspector-mime.xml" "$root/mime-check/mime/packages/"
# (Pointed at by XDG_DATA_DIRS, it prints nothing unless the XML is wrong.)
mime_out=$(XDG_DATA_DIRS=$root/mime-check update-mime-database "$root/mime-check/mime" 2>&1) || fail "update-mime-database failed: $mime_out"
[ -z "$mime_out" ] || { echo "$mime_out" >&2; fail "update-mime-database complained"; }
grep -q "application/x-pytorch" "$root/mime-check/mime/types" || fail "the MIME database did not take our types"
zsh -n "$root/usr/share/zsh/vendor-completions/_ckpt" || fail "the zsh completion does not parse"
bash -n "$root/usr/share/bash-completion/completions/ckpt" || fail "the bash completion does not parse"
for page in ckpt ckpt-inspector; do
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -l "$root/usr/share/man/man1/$page.1" 2>&1 >/dev/null || true)
  [ -z "$warnings" ] || { echo "$warnings" >&2; fail "man page $page.1 has warnings"; }
done

echo "package: smoke test passed: $(basename "$deb"), $(dpkg-deb -c "$deb" | wc -l) files"
