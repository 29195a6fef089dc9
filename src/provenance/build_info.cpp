// build_info(): what built this binary, from the definitions CMake gives clinbench_core and the
// compiler's own predefined macros, plus the llama.cpp build cache's CMake settings.
#include <fstream>
#include <string>

#include "clinbench/provenance.h"

namespace clinbench {
namespace {

// The settings of llama.cpp's CMakeCache.txt that change what its kernels do. The cache is read
// at run time: it is the one this binary was linked against unless it was rebuilt since (the
// commit key of the cache directory then still matches).
nlohmann::json llama_cmake_settings() {
#ifdef CLINBENCH_LLAMA_SRC
  const std::filesystem::path cache =
      std::filesystem::path(CLINBENCH_LLAMA_SRC).parent_path() / "build" / "CMakeCache.txt";
  std::ifstream in(cache);
  if (!in) return nullptr;
  static const char* kKeys[] = {"CMAKE_BUILD_TYPE",
                                "CMAKE_C_FLAGS",
                                "CMAKE_CXX_FLAGS",
                                "GGML_NATIVE",
                                "GGML_CUDA",
                                "GGML_BLAS",
                                "GGML_OPENMP",
                                "GGML_AVX2",
                                "GGML_AVX512",
                                "GGML_CPU_ALL_VARIANTS",
                                "CMAKE_CUDA_ARCHITECTURES",
                                "BUILD_SHARED_LIBS"};
  nlohmann::json out = nlohmann::json::object();
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    const size_t eq = line.find('=');
    if (colon == std::string::npos || eq == std::string::npos || colon > eq) continue;
    const std::string key = line.substr(0, colon);
    for (const char* k : kKeys) {
      if (key == k) out[key] = line.substr(eq + 1);
    }
  }
  return out;
#else
  return nullptr;
#endif
}

nlohmann::json isa() {
  nlohmann::json out = nlohmann::json::array();
#ifdef __SSE4_2__
  out.push_back("sse4.2");
#endif
#ifdef __AVX__
  out.push_back("avx");
#endif
#ifdef __AVX2__
  out.push_back("avx2");
#endif
#ifdef __FMA__
  out.push_back("fma");
#endif
#ifdef __F16C__
  out.push_back("f16c");
#endif
#ifdef __AVX512F__
  out.push_back("avx512f");
#endif
#ifdef __AMX_TILE__
  out.push_back("amx-tile");
#endif
#ifdef __ARM_NEON
  out.push_back("neon");
#endif
  return out;
}

nlohmann::json sanitizers() {
  nlohmann::json out = nlohmann::json::array();
#if defined(__SANITIZE_ADDRESS__)
  out.push_back("address");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  out.push_back("address");
#endif
#endif
#if defined(__SANITIZE_THREAD__)
  out.push_back("thread");
#endif
  return out;
}

}  // namespace

nlohmann::json build_info() {
  nlohmann::json j;
#ifdef CLINBENCH_VERSION
  j["clinbench_version"] = CLINBENCH_VERSION;
#else
  j["clinbench_version"] = nullptr;
#endif
#ifdef CLINBENCH_GIT_COMMIT
  j["clinbench_commit"] = CLINBENCH_GIT_COMMIT;
#else
  j["clinbench_commit"] = nullptr;
#endif
#ifdef CLINBENCH_LLAMA_COMMIT
  j["llama_cpp_commit"] = CLINBENCH_LLAMA_COMMIT;
#else
  j["llama_cpp_commit"] = nullptr;
#endif
#ifdef CLINBENCH_CXX_COMPILER
  j["compiler"] = CLINBENCH_CXX_COMPILER;
#else
  j["compiler"] = nullptr;
#endif
  j["compiler_version"] = __VERSION__;
  j["cxx_standard"] = static_cast<long>(__cplusplus);
#ifdef CLINBENCH_BUILD_TYPE
  j["build_type"] = CLINBENCH_BUILD_TYPE;
#else
  j["build_type"] = nullptr;
#endif
  nlohmann::json flags;
#ifdef NDEBUG
  flags["ndebug"] = true;
#else
  flags["ndebug"] = false;
#endif
#ifdef __OPTIMIZE__
  flags["optimize"] = true;
#else
  flags["optimize"] = false;
#endif
  flags["sanitizers"] = sanitizers();
  flags["isa"] = isa();
  j["flags"] = std::move(flags);
  j["llama_cpp_cmake"] = llama_cmake_settings();
  return j;
}

}  // namespace clinbench
