// Build and host facts, RAPL energy (absent and on a fake powercap tree), input hashes.
#include "clinbench/provenance.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "clinbench/hash.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

void put(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  testing::write_file(path.string(), content);
}

TEST(ProvenanceBuild, NamesCommitsCompilerAndBuildType) {
  const auto b = build_info();
  for (const char* key : {"clinbench_version", "clinbench_commit", "llama_cpp_commit", "compiler",
                          "compiler_version", "build_type"}) {
    ASSERT_TRUE(b.contains(key)) << key;
    ASSERT_TRUE(b[key].is_string()) << key << ": " << b[key].dump();
    EXPECT_FALSE(b[key].get<std::string>().empty()) << key;
  }
  EXPECT_GT(b["cxx_standard"].get<long>(), 202002L);  // g++ 12 says 202100 for C++23
  EXPECT_TRUE(b["flags"]["ndebug"].is_boolean());
  EXPECT_TRUE(b["flags"]["optimize"].is_boolean());
  EXPECT_TRUE(b["flags"]["sanitizers"].is_array());
  EXPECT_TRUE(b["flags"]["isa"].is_array());
  // The llama.cpp cache this build links against is on this machine.
  ASSERT_TRUE(b["llama_cpp_cmake"].is_object()) << b.dump();
  EXPECT_TRUE(b["llama_cpp_cmake"].contains("CMAKE_BUILD_TYPE")) << b["llama_cpp_cmake"].dump();
}

TEST(ProvenanceHost, DescribesThisMachine) {
  const auto h = host_info();
  EXPECT_FALSE(h["hostname"].get<std::string>().empty());
  EXPECT_EQ(h["os"]["name"], "Linux");
  EXPECT_FALSE(h["os"]["kernel"].get<std::string>().empty());
  EXPECT_GT(h["cpu"]["logical_cores"].get<long>(), 0);
#if defined(__x86_64__)
  EXPECT_TRUE(h["cpu"]["model"].is_string()) << h.dump();  // arm64 kernels may not name it
#endif
  EXPECT_TRUE(h["cpu"]["flags"].is_array()) << h.dump();
  EXPECT_GT(h["memory_bytes"].get<uint64_t>(), 64ull << 20);
  EXPECT_TRUE(h.contains("accelerator"));
  EXPECT_TRUE(h["accelerator"].is_null());
}

TEST(ProvenanceHash, FileEntry) {
  testing::ScratchDir dir;
  const std::string file = dir.file("config.toml");
  testing::write_file(file, "abc");
  auto h = hash_input(file);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ((*h)["kind"], "file");
  EXPECT_EQ((*h)["path"], file);
  EXPECT_EQ((*h)["resolved"], fs::absolute(file).lexically_normal().string());
  EXPECT_EQ((*h)["size"], 3u);
  EXPECT_EQ((*h)["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(h->contains("files"));
}

TEST(ProvenanceHash, DirectoryEntryListsEveryFileSorted) {
  testing::ScratchDir dir;
  const fs::path d = fs::path(dir.path()) / "pubmedqa";
  put(d / "b.json", "{}");
  put(d / "a" / "z.json", "zz");
  put(d / "a" / "y.json", "y");
  fs::create_directories(d / "empty");
  fs::create_symlink("b.json", d / "c.json");  // a symlinked file is followed
  auto h = hash_input(d);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ((*h)["kind"], "directory");
  EXPECT_EQ((*h)["size"], 2u + 2u + 1u + 2u);
  const auto& files = (*h)["files"];
  ASSERT_EQ(files.size(), 4u);
  std::string listing;
  const char* order[] = {"a/y.json", "a/z.json", "b.json", "c.json"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(files[i]["path"], order[i]);
    auto sha = sha256_file((d / order[i]).string());
    ASSERT_TRUE(sha);
    EXPECT_EQ(files[i]["sha256"], *sha);
    listing += *sha + "  " + order[i] + "\n";
  }
  EXPECT_EQ((*h)["sha256"], sha256_string(listing));
}

TEST(ProvenanceHash, MissingInputIsNotFound) {
  testing::ScratchDir dir;
  auto h = hash_input(dir.file("gone.gguf"));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, ErrorCode::kNotFound);
  EXPECT_NE(h.error().message.find("gone.gguf"), std::string::npos);
}

TEST(ProvenanceHash, InputsKeepTheirShapeAndErrorsNameTheInput) {
  testing::ScratchDir dir;
  testing::write_file(dir.file("m.gguf"), "model");
  testing::write_file(dir.file("val.jsonl"), "{}\n");
  auto h = hash_inputs({{"models", {{"tiny", dir.file("m.gguf")}}},
                        {"datasets", {{"val", dir.file("val.jsonl")}}},
                        {"config", nullptr}});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ((*h)["models"]["tiny"]["sha256"], sha256_string("model"));
  EXPECT_EQ((*h)["datasets"]["val"]["sha256"], sha256_string("{}\n"));
  EXPECT_TRUE((*h)["config"].is_null());

  auto bad = hash_inputs({{"datasets", {{"test", dir.file("test.jsonl")}}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(bad.error().message.rfind("datasets.test: ", 0), 0u) << bad.error().message;

  auto typo = hash_inputs({{"dataset", {{"test", dir.file("val.jsonl")}}}});
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(typo.error().message.find("inputs.dataset"), std::string::npos);
}

}  // namespace
}  // namespace clinbench
