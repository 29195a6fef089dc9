#!/usr/bin/env bash
# Builds ggml's CUDA backend module, libggml-cuda.so, from a ggml source tree (the one
# scripts/gpu_bundle.sh packs into .gpu/ggml), for the backends-as-modules build of llama.cpp
# that clinbench and llama-bench in .gpu/ load. Used on the GPU machine by gpu_check.sh and,
# where nvcc is installed, on the build machine by gpu_bundle.sh --cuda, so the GPU machine can
# skip the build.
#
#   scripts/ggml_cuda.sh GGML_SRC BUILD_DIR LOG OUT_DIR
#
# CUDA_ARCH (default 90, Hopper) and GPU_CHECK_FA (default OFF: no flash-attention kernels, the
# bulk of the build) choose what is compiled. Prints the library's path.
set -uo pipefail
src=$1 build=$2 log=$3 out=$4
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc >/dev/null || { echo "ggml_cuda.sh: nvcc not found" >&2; exit 1; }
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DGGML_CUDA=ON \
  -DGGML_CUDA_NCCL=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
  -DGGML_CUDA_FA="${GPU_CHECK_FA:-OFF}" -DGGML_NATIVE=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" \
  >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
cmake --build "$build" --target ggml-cuda -j"$(nproc)" >>"$log" 2>&1 ||
  { grep -m5 -B2 -A8 "error" "$log" >&2; tail -20 "$log" >&2; exit 1; }
lib=$(find "$build" -name 'libggml-cuda.so' | head -1)
[ -n "$lib" ] || { echo "ggml_cuda.sh: no libggml-cuda.so under $build" >&2; exit 1; }
cp "$lib" "$out/" && echo "$out/libggml-cuda.so"
