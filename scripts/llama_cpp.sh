#!/usr/bin/env bash
# Fetches llama.cpp from the git bundle inside the npm package node-llama-cpp@3.21.1, checks the
# registry integrity, and builds it once per machine into a cache keyed by the commit.
#
#   scripts/llama_cpp.sh [--cuda | --dl] [--print-dir]
#
#   --cuda  static build with the CUDA backend (needs nvcc; CUDA_ARCH, default 90).
#   --dl    shared libraries with loadable backends (GGML_BACKEND_DL) and a portable x86-64-v3
#           CPU backend: the build scripts/gpu_bundle.sh packs for a GPU machine, which adds
#           libggml-cuda.so built there from the same source.
#
# Cache: ${CLINBENCH_CACHE:-$HOME/.cache/clinbench}/llama.cpp-<commit>[-cuda|-dl]/{src,build}
# A finished build leaves build/.complete; later calls only print the directory.
set -euo pipefail

NPM_PKG="node-llama-cpp@3.21.1"
INTEGRITY="sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg=="
COMMIT_SHORT="80fb11a"
CUDA=0
DL=0
PRINT_ONLY=0
for a in "$@"; do
  case "$a" in
    --cuda) CUDA=1 ;;
    --dl) DL=1 ;;
    --print-dir) PRINT_ONLY=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "llama_cpp.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

if [ $CUDA = 1 ] && [ $DL = 1 ]; then
  echo "llama_cpp.sh: --cuda and --dl exclude each other" >&2; exit 2
fi
CACHE="${CLINBENCH_CACHE:-$HOME/.cache/clinbench}"
suffix=""
[ $CUDA = 1 ] && suffix=-cuda
[ $DL = 1 ] && suffix=-dl
DIR="$CACHE/llama.cpp-$COMMIT_SHORT$suffix"
if [ $PRINT_ONLY = 1 ]; then echo "$DIR"; exit 0; fi

mkdir -p "$CACHE"
log() { echo "[llama.cpp] $*" >&2; }

# 1. Source: npm tarball -> integrity check -> git bundle -> clone.
if [ ! -f "$DIR/src/.cloned" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  log "fetching $NPM_PKG with npm pack"
  (cd "$tmp" && npm pack "$NPM_PKG" --silent >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$INTEGRITY" ]; then
    echo "llama_cpp.sh: integrity mismatch for $NPM_PKG: expected $INTEGRITY, got $got" >&2
    exit 1
  fi
  log "integrity ok"
  tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$DIR/src"
  mkdir -p "$DIR"
  git clone --quiet "$tmp/package/llama/gitRelease.bundle" "$DIR/src"
  head=$(git -C "$DIR/src" rev-parse HEAD)
  case "$head" in
    "$COMMIT_SHORT"*) ;;
    *) echo "llama_cpp.sh: bundle HEAD is $head, expected $COMMIT_SHORT" >&2; exit 1 ;;
  esac
  touch "$DIR/src/.cloned"
fi

# 2. clinbench's patches (patches/llama.cpp/*.patch), re-applied when they change.
here=$(cd "$(dirname "$0")" && pwd)
patch_dir="$here/../patches/llama.cpp"
patch_sum=$(cat "$patch_dir"/*.patch 2>/dev/null | sha256sum | cut -c1-16)
if [ "$(cat "$DIR/src/.patched" 2>/dev/null)" != "$patch_sum" ]; then
  git -C "$DIR/src" checkout --quiet -- .
  for p in "$patch_dir"/*.patch; do
    [ -f "$p" ] || continue
    log "applying $(basename "$p")"
    git -C "$DIR/src" apply "$p"
  done
  echo "$patch_sum" > "$DIR/src/.patched"
  rm -f "$DIR/build/.complete"
fi
# 3. Build. AMX is disabled: ggml's AMX kernels crash on Q8_0/Q4_K here and slow F16/F32
#    (see DESIGN.md); -mno-amx-* wins over -march=native whatever the order.
NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
args=(-S "$DIR/src" -B "$DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
      -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF
      -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_RPC=ON
      "-DCMAKE_C_FLAGS=$NOAMX" "-DCMAKE_CXX_FLAGS=$NOAMX")
if command -v ccache >/dev/null; then
  args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ $CUDA = 1 ]; then
  # NCCL (multi-GPU communication, which one model on one GPU does not use) is switched on by
  # ggml when it finds the library, and a static libggml-cuda.a then needs -lnccl at every link.
  args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90}" -DGGML_CUDA_NCCL=OFF)
fi
# llama-simple is the peer for greedy output: it prints with printf, while llama-completion's
# output goes through an asynchronous log thread that can lose it at exit.
# ggml's RPC backend and its server (ggml-rpc-server): a device over a socket, which the tests
# use as an accelerator with a memory cap (patches/llama.cpp/0003) where there is no GPU.
# llama-batched-bench is the peer for continuous batching (N sequences decoding together).
targets=(llama ggml llama-common llama-bench llama-batched-bench llama-perplexity llama-server
         llama-completion llama-fit-params llama-quantize llama-simple ggml-rpc-server)
if [ $DL = 1 ]; then
  # Later -D values win: shared libraries, backends as modules found next to the executable,
  # and a CPU backend for any x86-64-v3 machine (AVX2/FMA/F16C/BMI2) rather than this one.
  args+=(-DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_AVX=ON
         -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_SSE42=ON)
  # llama-server: gpu_check.sh's peer for generation at scale (N slots).
  targets=(llama ggml ggml-base ggml-cpu llama-common llama-bench llama-batched-bench llama-simple
           llama-server ggml-rpc ggml-rpc-server)
fi
# The marker holds the commit and a fingerprint of the configuration and targets, so a change to
# either rebuilds (incrementally) on the next call.
key="$(git -C "$DIR/src" rev-parse HEAD) $(echo "${args[*]} ${targets[*]}" | sha256sum | cut -c1-16)"
if [ "$(cat "$DIR/build/.complete" 2>/dev/null)" = "$key" ]; then echo "$DIR"; exit 0; fi
log "configuring in $DIR/build"
cmake "${args[@]}" >&2
log "building (several minutes on 2 cores)"
cmake --build "$DIR/build" -j"$(nproc)" --target "${targets[@]}" >&2
echo "$key" > "$DIR/build/.complete"
echo "$DIR"
