#!/usr/bin/env bash
# Packs what the GPU checks (scripts/gpu_check.sh) need into .gpu/ (git-ignored), built on this
# machine so that a GPU machine without Debian's -dev packages, and with minutes of time, only
# has to compile llama.cpp's CUDA backend:
#
#   .gpu/bin/      clinbench, llama-bench, llama-batched-bench and llama-server (stripped; the
#                  server is gpu_check.sh's peer for generation at scale), linked against shared
#                  llama.cpp, and the CPU backend module libggml-cpu.so, the RPC backend module
#                  and its server (the dry run's device); gpu_check.sh adds libggml-cuda.so
#                  here, where ggml looks for backend modules (next to the executable)
#   .gpu/lib/      libllama, libggml*, and every Debian library they and clinbench load, except
#                  the C and C++ runtimes (the GPU machine's own, which are newer, are used)
#   .gpu/ggml/     ggml's source at the same commit, without the other backends: enough to build
#                  libggml-cuda.so with nvcc there
#   .gpu/vocab/    the Llama 3 (BPE) and Llama 2 (SPM) vocabularies for clinbench synth
#   .gpu/COMMIT    llama.cpp commit and clinbench revision
#
#   scripts/gpu_bundle.sh [--cuda]  (then, on the GPU machine: bash scripts/gpu_check.sh)
#
# --cuda (needs nvcc here): also builds libggml-cuda.so here (scripts/ggml_cuda.sh, in a cache
# beside llama.cpp's, so a later bundle reuses it) and packs it in .gpu/bin. gpu_check.sh then
# only checks that it loads on the GPU machine and builds it there only if it does not.
#
# llama.cpp comes from `scripts/llama_cpp.sh --dl` (shared libraries, loadable backends, an
# x86-64-v3 CPU backend); clinbench is built against it in build-dl/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[gpu_bundle] $*" >&2; }
CUDA=0
case "${1:-}" in
  --cuda) CUDA=1 ;;
  "") ;;
  *) echo "usage: scripts/gpu_bundle.sh [--cuda]" >&2; exit 2 ;;
esac

dl=$("$root/scripts/llama_cpp.sh" --dl)
args=(-S "$root" -B "$root/build-dl" -G Ninja -DCMAKE_BUILD_TYPE=Release
      "-DCLINBENCH_LLAMA_DIR=$dl")
if command -v ccache >/dev/null; then args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
log "building clinbench against $dl"
cmake "${args[@]}" >/dev/null
cmake --build "$root/build-dl" --target clinbench >&2

B="$root/.gpu"
rm -rf "$B"
mkdir -p "$B/bin" "$B/lib" "$B/ggml/src"
# The RPC backend and its server: the dry run's accelerator (gpu_check.sh --cpu-dry-run).
cp "$root/build-dl/clinbench" "$dl/build/bin/llama-bench" "$dl/build/bin/llama-batched-bench" \
  "$dl/build/bin/llama-server" "$dl/build/bin/libggml-cpu.so" \
  "$dl/build/bin/libggml-rpc.so" "$dl/build/bin/ggml-rpc-server" "$B/bin/"
# The C and C++ runtimes stay the GPU machine's: its libggml-cuda.so is built by its compiler
# and needs its libstdc++; everything built here needs only older symbol versions.
ldd "$B/bin/clinbench" "$B/bin/llama-bench" "$B/bin/llama-server" "$B/bin/libggml-cpu.so" \
    "$B/bin/libggml-rpc.so" "$B/bin/ggml-rpc-server" |
  awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) ;;
      *) cp -L "$lib" "$B/lib/" ;;
    esac
  done
missing=$(ldd "$B/bin/clinbench" "$B/bin/llama-server" | grep "not found" || true)
if [ -n "$missing" ]; then echo "gpu_bundle.sh: unresolved libraries: $missing" >&2; exit 1; fi
strip --strip-unneeded "$B/bin/"* "$B/lib/"*

# clinbench synth finds vocabularies in the llama.cpp source it was built with; the GPU machine
# has none, so the check names these files.
mkdir -p "$B/vocab"
cp "$dl/src/models/ggml-vocab-llama-bpe.gguf" "$dl/src/models/ggml-vocab-llama-spm.gguf" "$B/vocab/"
src="$dl/src/ggml"
find "$src" -maxdepth 1 -type f -exec cp -p {} "$B/ggml/" \;
cp -rp "$src/cmake" "$src/include" "$B/ggml/"
# ggml configured on its own (GGML_STANDALONE) writes a pkg-config file from ggml.pc.in, which
# only the ggml repository has; the CUDA build needs none.
: > "$B/ggml/ggml.pc.in"
find "$src/src" -maxdepth 1 -type f -exec cp -p {} "$B/ggml/src/" \;
cp -rp "$src/src/ggml-cuda" "$src/src/ggml-cpu" "$B/ggml/src/"  # ggml-base includes ggml-cpu headers
if [ $CUDA = 1 ]; then
  cache="${CLINBENCH_CACHE:-$HOME/.cache/clinbench}/ggml-cuda-$(git -C "$dl/src" rev-parse --short HEAD)-sm${CUDA_ARCH:-90}-fa${GPU_CHECK_FA:-OFF}"
  mkdir -p "$cache"
  log "building libggml-cuda.so in $cache (long on few cores; log in $cache/build.log)"
  # From the packed tree, the one the GPU machine would build (its files keep their times, so a
  # later bundle reuses the objects).
  "$root/scripts/ggml_cuda.sh" "$B/ggml" "$cache/build" "$cache/build.log" "$B/bin" >/dev/null
  strip --strip-unneeded "$B/bin/libggml-cuda.so"
fi
{
  echo "llama.cpp $(git -C "$dl/src" rev-parse HEAD)"
  echo "clinbench $(git -C "$root" rev-parse HEAD)$(git -C "$root" diff --quiet HEAD || echo -dirty)"
} > "$B/COMMIT"
du -sh "$B"/* >&2
# One xz archive: the device tool carries at most 64 MiB of working tree, and the CUDA library
# alone is 46 MB (25 MB packed). gpu_check.sh unpacks it where it lies.
log "packing $(du -sh "$B" | cut -f1)"
tar -C "$B" -cf - bin lib ggml vocab COMMIT | xz -T0 -6 > "$root/.gpu-bundle.tar.xz.tmp"
rm -rf "$B"
mkdir -p "$B"
mv "$root/.gpu-bundle.tar.xz.tmp" "$B/bundle.tar.xz"
log "bundle in $B/bundle.tar.xz: $(du -sh "$B/bundle.tar.xz" | cut -f1)"
