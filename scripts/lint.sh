#!/usr/bin/env bash
# The format check and clang-tidy (.clang-tidy's checks) over the sources. scripts/test.sh runs
# it after the build; it needs the build's compile_commands.json.
#
#   scripts/lint.sh [BUILD_DIR]      (default build/)
#
# clang-tidy is clang-tidy-16 (Debian 12's newest; 14 cannot parse C++23). A file's result is
# cached (~/.cache/clinbench/tidy, CLINBENCH_CACHE moves it) under the hash of the checks, the
# compile command and the content of every file of the repository the build saw it include, so
# an unchanged file is not analysed again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"

mapfile -t cxx < <(git ls-files -- 'src/*.cpp' 'src/*.h' 'include/*.h' 'tests/*.cpp' \
                     'tests/*.h' 'bench/*.cpp' 'bench/*.h')
if ! out=$(clang-format --dry-run --Werror "${cxx[@]}" 2>&1); then
  echo "lint: not clang-format clean (run clang-format -i on them):" >&2
  echo "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/  \1/p' |
    sort -u >&2
  exit 1
fi
echo "[lint] clang-format: ${#cxx[@]} files clean" >&2

tidy=$(command -v clang-tidy-16 || true)
if [ -z "$tidy" ]; then
  echo "lint: clang-tidy-16 is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi
cache=${CLINBENCH_CACHE:-$HOME/.cache/clinbench}/tidy
mkdir -p "$cache" "$build/tidy"
# clang-16 spells C++23 as c++2b, and defines __cpp_concepts below what libstdc++ 12's
# <expected> asks for, although it implements what <expected> uses (P0848).
sed 's/-std=c++23/-std=c++2b/g' "$build/compile_commands.json" > "$build/tidy/compile_commands.json"
export TIDY="$tidy" BUILD="$build" CACHE="$cache" ROOT="$root"
export KEY_BASE=$( { "$tidy" --version; cat .clang-tidy; } | sha256sum | cut -d' ' -f1)
check_one() {
  local f=$1 deps key
  # The object's dependencies as the compiler listed them, those inside the repository.
  deps=$(cd "$BUILD" && ninja -t deps "CMakeFiles/clinbench_core.dir/$f.o" 2>/dev/null |
         sed -n 's/^    //p' | xargs -r realpath -e 2>/dev/null | grep "^$ROOT/" | sort -u || true)
  key=$( { echo "$KEY_BASE"; grep -F "\"file\": \"$ROOT/$f\"" -B3 "$BUILD/tidy/compile_commands.json";
           cat "$ROOT/$f" $deps; } | sha256sum | cut -d' ' -f1)
  if [ -f "$CACHE/$key.ok" ]; then return 0; fi
  local out
  if out=$("$TIDY" -p "$BUILD/tidy" --quiet --extra-arg=-Wno-builtin-macro-redefined \
             --extra-arg=-U__cpp_concepts --extra-arg=-D__cpp_concepts=202002L "$ROOT/$f" 2>&1); then
    touch "$CACHE/$key.ok"
  else
    echo "$out" | grep -E '(warning|error):' | grep -v 'warnings generated' >&2
    return 1
  fi
}
export -f check_one
mapfile -t tus < <(git ls-files -- 'src/*.cpp')
if printf '%s\n' "${tus[@]}" | xargs -P "$(nproc)" -I{} bash -c 'check_one "$@"' _ {}; then
  echo "[lint] clang-tidy: ${#tus[@]} files clean" >&2
else
  echo "lint: clang-tidy found problems (above); .clang-tidy lists the checks" >&2
  exit 1
fi
