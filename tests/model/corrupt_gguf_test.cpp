// Bad model files: each variant of a real GGUF (truncations, bad magic, flipped bytes in the
// header and tensor table, data past the end, unknown architecture) gives one clear error line
// naming the file, a non-zero exit, and no crash of clinbench.
#include <gguf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "clinbench/model_info.h"
#include "test_util.h"

namespace clinbench {
namespace {

using testing::CommandResult;
using testing::ScratchDir;

struct Variant {
  std::string name;
  std::string bytes;
  bool must_fail = true;  // random flips inside string values may leave a valid file
};

void put_u32(std::string& s, size_t off, uint32_t v) { std::memcpy(s.data() + off, &v, 4); }
void put_u64(std::string& s, size_t off, uint64_t v) { std::memcpy(s.data() + off, &v, 8); }

// The value of general.architecture: after the key, its type (u32) and the string length (u64).
size_t arch_value_offset(const std::string& s) {
  const std::string key = "general.architecture";
  return s.find(key) + key.size() + 4 + 8;
}

std::vector<Variant> make_variants(const std::string& good) {
  std::vector<Variant> v;
  // Where the metadata ends (the tensor table is its tail).
  gguf_init_params p{true, nullptr};
  gguf_context* g = gguf_init_from_file(testing::stories_model().c_str(), p);
  const size_t meta = gguf_get_meta_size(g);
  gguf_free(g);

  for (size_t cut : {size_t{0}, size_t{3}, size_t{4}, size_t{8}, size_t{16}, size_t{23},
                     size_t{100}, size_t{1000}, meta / 2, meta - 200, meta - 1, meta + 64,
                     good.size() / 2, good.size() - 1}) {
    v.push_back({"truncated at " + std::to_string(cut), good.substr(0, cut)});
  }
  for (const char* magic : {"GGUG", "ggml",
                            "\x7f"
                            "ELF"}) {
    std::string s = good;
    std::memcpy(s.data(), magic, 4);
    v.push_back({std::string("magic ") + magic, s});
  }
  for (uint32_t ver : {0u, 1u, 99u, 0xffffffffu}) {
    std::string s = good;
    put_u32(s, 4, ver);
    v.push_back({"version " + std::to_string(ver), s});
  }
  for (uint64_t n : {uint64_t{1} << 40, ~uint64_t{0}, uint64_t{49}}) {
    std::string s = good;
    put_u64(s, 8, n);
    v.push_back({"tensor count " + std::to_string(n), s});
  }
  for (uint64_t n : {uint64_t{1} << 40, uint64_t{0}, uint64_t{1000}}) {
    std::string s = good;
    put_u64(s, 16, n);
    v.push_back({"kv count " + std::to_string(n), s});
  }
  {
    std::string s = good;
    put_u64(s, 24, uint64_t{1} << 50);  // length of the first key
    v.push_back({"first key length huge", s});
  }
  {
    std::string s = good;
    s[arch_value_offset(s) + 1] = 'x';  // general.architecture = "lxama"
    v.push_back({"unknown architecture", s});
  }
  {
    // Tensor data that lies past the end: keep the whole header, drop most of the data.
    v.push_back({"data past end", good.substr(0, meta + 4096)});
  }
  // Flipped bytes in the tensor table (names, dims, types, offsets) and in the key-values.
  std::mt19937 rng(1234);
  for (int i = 0; i < 8; ++i) {
    std::string s = good;
    const size_t off = meta - 1 - rng() % 600;
    s[off] = static_cast<char>(s[off] ^ 0xff);
    v.push_back({"tensor table byte " + std::to_string(off) + " flipped", s, false});
  }
  for (int i = 0; i < 6; ++i) {
    std::string s = good;
    const size_t off = 24 + rng() % 400;
    s[off] = static_cast<char>(s[off] ^ 0x80);
    v.push_back({"header byte " + std::to_string(off) + " flipped", s, false});
  }
  return v;
}

TEST(CorruptGguf, EveryVariantGivesOneClearErrorAndNoCrash) {
  const std::string good = testing::read_file(testing::stories_model());
  ASSERT_GT(good.size(), 100000u);
  const auto variants = make_variants(good);
  ASSERT_GE(variants.size(), 30u);
  ScratchDir dir;
  int failed = 0;
  for (size_t i = 0; i < variants.size(); ++i) {
    const auto& var = variants[i];
    const std::string path = dir.file("variant" + std::to_string(i) + ".gguf");
    testing::write_file(path, var.bytes);
    CommandResult r =
        testing::run_command({testing::clinbench_binary(), "inspect", "--no-hash", path});
    EXPECT_EQ(r.signal, 0) << var.name << " crashed clinbench: " << r.err;
    // `load` plans in a child process: the same one-line error comes back through it.
    CommandResult l = testing::run_command(
        {testing::clinbench_binary(), "load", "--no-hash", "--ctx", "256", path});
    EXPECT_EQ(l.signal, 0) << var.name << " crashed clinbench load: " << l.err;
    if (r.exit_code != 0) {
      EXPECT_EQ(l.exit_code, r.exit_code) << var.name << ": " << l.err;
      EXPECT_EQ(l.err, r.err) << var.name;
    }
    if (r.exit_code == 0) {
      EXPECT_FALSE(var.must_fail) << var.name << " was accepted";
      continue;
    }
    ++failed;
    EXPECT_EQ(r.exit_code, 3) << var.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("clinbench: " + path + ": ", 0), 0u) << var.name << ": " << r.err;
    // One line: the error, nothing from llama.cpp's log.
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << var.name << ": " << r.err;
  }
  EXPECT_GE(failed, 28);
}

TEST(CorruptGguf, SpecificErrorsSayWhatIsWrong) {
  const std::string good = testing::read_file(testing::stories_model());
  ScratchDir dir;
  auto expect_error = [&](const std::string& bytes, ErrorCode code, const std::string& needle) {
    const std::string path = dir.file("m.gguf");
    testing::write_file(path, bytes);
    auto r = read_model_info(path, {.hash = false});
    ASSERT_FALSE(r) << needle;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
  };
  std::string bad_magic = good;
  bad_magic[3] = 'X';
  expect_error(bad_magic, ErrorCode::kCorrupt, "not a GGUF file (magic is 'GGUX'");
  expect_error(good.substr(0, 2), ErrorCode::kCorrupt, "not a GGUF file");
  expect_error(good.substr(0, 200), ErrorCode::kCorrupt, "corrupt or truncated");
  std::string arch = good;
  arch[arch_value_offset(arch) + 1] = 'x';
  expect_error(arch, ErrorCode::kUnsupported, "unsupported architecture 'lxama'");
  gguf_init_params p{true, nullptr};
  gguf_context* g = gguf_init_from_file(testing::stories_model().c_str(), p);
  const size_t meta = gguf_get_meta_size(g);
  gguf_free(g);
  expect_error(good.substr(0, meta + 4096), ErrorCode::kCorrupt, "past the end of the file");

  auto missing = read_model_info(dir.file("absent.gguf"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("no such file"), std::string::npos);
  auto directory = read_model_info(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);
}

TEST(CorruptGguf, LoadOfBadFilesFailsCleanly) {
  ScratchDir dir;
  testing::write_file(dir.file("text.gguf"), "this is not a model\n");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"load", dir.file("text.gguf")},
           {"load", dir.file("nothing.gguf")},
           {"load", dir.path()},
           {"load", testing::stories_model(), "--host-memory", "12XB"},
           {"load", testing::stories_model(), "--strategy", "fast"},
           {"load", testing::stories_model(), "--recipe", "nope"},
           {"load", testing::stories_model(), "--isolation", "thread"},
           {"load", testing::stories_model(), "--host-limit", "rlimit"},
           {"load", testing::stories_model(), "--device-memory", "-3G"},
           {"inspect", testing::stories_model(), "--device-memory", "lots"}}) {
    std::vector<std::string> argv = {testing::clinbench_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = testing::run_command(argv);
    EXPECT_EQ(r.signal, 0) << args[1];
    EXPECT_NE(r.exit_code, 0) << args[1];
    EXPECT_EQ(r.err.rfind("clinbench: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    if (args.size() > 3) {  // the error names the flag or the bad value
      EXPECT_TRUE(r.err.find(args[2]) != std::string::npos ||
                  r.err.find(args[3]) != std::string::npos)
          << r.err;
    }
  }
}

}  // namespace
}  // namespace clinbench
