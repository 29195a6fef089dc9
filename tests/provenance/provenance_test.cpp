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

TEST(ProvenanceEnergy, DeltaHandlesOneWrap) {
  EXPECT_EQ(energy_delta_uj(100, 350, 1000), 250u);
  EXPECT_EQ(energy_delta_uj(100, 100, 1000), 0u);
  EXPECT_EQ(energy_delta_uj(900, 50, 1000), 150u);  // 100 to the wrap, 50 after it
  EXPECT_EQ(energy_delta_uj(1000, 0, 1000), 0u);
  const uint64_t range = 262143328850ull;  // a real max_energy_range_uj
  EXPECT_EQ(energy_delta_uj(range - 5, 7, range), 12u);
  EXPECT_EQ(energy_delta_uj(500, 100, 0), std::nullopt);      // no range: a drop is impossible
  EXPECT_EQ(energy_delta_uj(2000, 100, 1000), std::nullopt);  // start above the range
}

TEST(ProvenanceEnergy, AbsentRaplGivesNoEnergy) {
  testing::ScratchDir dir;
  const fs::path none = fs::path(dir.path()) / "no_powercap";
  EXPECT_TRUE(read_rapl_packages(none).empty());
  EXPECT_EQ(rapl_energy_uj(none), std::nullopt);
  EnergyMeter meter(none);
  meter.start();
  meter.sample();
  meter.stop();
  EXPECT_FALSE(meter.available());
  EXPECT_EQ(meter.energy_uj(), std::nullopt);
  EXPECT_TRUE(meter.to_json().is_null());
}

TEST(ProvenanceEnergy, ThisMachineIsConsistent) {
  // This VM may not expose RAPL, or expose it to root only: either way nothing fails.
  const auto sum = rapl_energy_uj();
  EnergyMeter meter;
  meter.start();
  meter.stop();
  if (!sum) {
    EXPECT_FALSE(meter.available());
    EXPECT_TRUE(meter.to_json().is_null());
  } else {
    EXPECT_TRUE(meter.available());
    EXPECT_TRUE(meter.energy_uj().has_value());
  }
}

class ProvenanceFakeRapl : public ::testing::Test {
 protected:
  void SetUp() override {
    domain("intel-rapl:0", "package-0", 1000, 10000);
    domain("intel-rapl:1", "package-1", 9900, 10000);
    domain("intel-rapl:0:0", "core", 500, 10000);        // part of package 0: not counted again
    domain("intel-rapl:2", "psys", 77777, 100000);       // the whole platform: not a package
    domain("intel-rapl-mmio:0", "package-0", 3, 10000);  // duplicate interface
    put(root() / "intel-rapl" / "enabled", "1\n");       // the control type directory
  }
  fs::path root() const { return fs::path(dir_.path()) / "powercap"; }
  void domain(const std::string& name, const std::string& label, uint64_t energy, uint64_t range) {
    put(root() / name / "name", label + "\n");
    put(root() / name / "energy_uj", std::to_string(energy) + "\n");
    put(root() / name / "max_energy_range_uj", std::to_string(range) + "\n");
  }
  void set_energy(const std::string& name, uint64_t energy) {
    put(root() / name / "energy_uj", std::to_string(energy) + "\n");
  }
  testing::ScratchDir dir_;
};

TEST_F(ProvenanceFakeRapl, SumsPackagesOnly) {
  const auto packages = read_rapl_packages(root());
  ASSERT_EQ(packages.size(), 2u);
  EXPECT_EQ(packages[0].name, "intel-rapl:0");
  EXPECT_EQ(packages[1].name, "intel-rapl:1");
  EXPECT_EQ(packages[1].max_range_uj, 10000u);
  EXPECT_EQ(rapl_energy_uj(root()), 1000u + 9900u);
}

TEST_F(ProvenanceFakeRapl, MeterAccumulatesAcrossAWrap) {
  EnergyMeter meter(root());
  meter.start();
  ASSERT_TRUE(meter.available());
  EXPECT_EQ(meter.energy_uj(), 0u);
  set_energy("intel-rapl:0", 1500);  // +500
  set_energy("intel-rapl:1", 50);    // wrapped: +100 to the range, +50 after
  meter.sample();
  EXPECT_EQ(meter.energy_uj(), 650u);
  set_energy("intel-rapl:0", 9000);  // +7500
  set_energy("intel-rapl:1", 9000);  // +8950
  meter.sample();
  set_energy("intel-rapl:0", 200);  // wrapped: +1000 +200
  meter.stop();
  EXPECT_EQ(meter.energy_uj(), 650u + 7500u + 8950u + 1200u);
  set_energy("intel-rapl:0", 5000);  // after stop: ignored
  meter.sample();
  EXPECT_EQ(meter.energy_uj(), 650u + 7500u + 8950u + 1200u);
  const auto j = meter.to_json();
  EXPECT_EQ(j["source"], "rapl");
  EXPECT_EQ(j["packages"], nlohmann::json({"intel-rapl:0", "intel-rapl:1"}));
  EXPECT_EQ(j["energy_uj"], 18300u);
  EXPECT_DOUBLE_EQ(j["energy_j"].get<double>(), 0.0183);
  EXPECT_EQ(j["samples"], 3u);
}

TEST_F(ProvenanceFakeRapl, UnreadablePackageMakesEnergyAbsent) {
  fs::remove(root() / "intel-rapl:1" / "energy_uj");
  EXPECT_TRUE(read_rapl_packages(root()).empty());
  EXPECT_EQ(rapl_energy_uj(root()), std::nullopt);
}

TEST_F(ProvenanceFakeRapl, PackageVanishingDuringTheRunMakesEnergyAbsent) {
  EnergyMeter meter(root());
  meter.start();
  ASSERT_TRUE(meter.available());
  set_energy("intel-rapl:0", 1200);
  meter.sample();
  fs::remove_all(root() / "intel-rapl:1");
  meter.stop();
  EXPECT_FALSE(meter.available());
  EXPECT_EQ(meter.energy_uj(), std::nullopt);
  EXPECT_TRUE(meter.to_json().is_null());
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
