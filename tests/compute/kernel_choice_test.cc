// KernelChoice: the spec grammar and its refusals, the cache file (used, rewritten when broken,
// never trusted for kernels this CPU cannot run), the rounding rule between GEMV and GEMM, and the
// CPU backend computing with the kernel it chose.
#include "compute/kernel_choice.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compute/cpu_backend.h"
#include "kernels/ops.h"
#include "util/bf16.h"
#include "util/cpu_info.h"
#include "util/error.h"

namespace qwenvl::compute {
namespace {

namespace fs = std::filesystem;
using kernels::MatMulKernel;

constexpr WeightFormat kAllFormats[] = {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                                        WeightFormat::kQ8, WeightFormat::kQ4};

std::string ErrorOf(const std::string& spec) {
  try {
    ParseKernelSpec(spec);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(KernelSpec, AutoForcesNothing) {
  EXPECT_TRUE(ParseKernelSpec("auto").forced.empty());
  EXPECT_TRUE(ParseKernelSpec("").forced.empty());
  EXPECT_TRUE(ParseKernelSpec("  auto ").forced.empty());
}

TEST(KernelSpec, BareKernelCoversEveryFormatItTakes) {
  const KernelSpec s = ParseKernelSpec("f32");
  EXPECT_EQ(s.forced.size(), 10u);
  for (WeightFormat f : kAllFormats) {
    EXPECT_EQ(s.forced.at({f, MatMulSize::kGemv}), MatMulKernel::kF32);
    EXPECT_EQ(s.forced.at({f, MatMulSize::kGemm}), MatMulKernel::kF32);
  }
  if (kernels::MatMulKernelRuns(MatMulKernel::kInt8)) {
    const KernelSpec q = ParseKernelSpec("int8");  // q8 and q4 only
    EXPECT_EQ(q.forced.size(), 4u);
    EXPECT_EQ(q.forced.at({WeightFormat::kQ4, MatMulSize::kGemm}), MatMulKernel::kInt8);
  }
}

TEST(KernelSpec, SelectorsAndLaterItemsWin) {
  const KernelSpec s = ParseKernelSpec(" f32 , gemv = f32,bf16.gemm=f32 ");
  EXPECT_EQ(s.forced.at({WeightFormat::kBF16, MatMulSize::kGemm}), MatMulKernel::kF32);
  if (kernels::MatMulKernelRuns(MatMulKernel::kBf16Dot)) {
    const KernelSpec t = ParseKernelSpec("bf16-dot,q8.gemv=f32");
    EXPECT_EQ(t.forced.at({WeightFormat::kQ8, MatMulSize::kGemv}), MatMulKernel::kF32);
    EXPECT_EQ(t.forced.at({WeightFormat::kQ8, MatMulSize::kGemm}), MatMulKernel::kBf16Dot);
    EXPECT_EQ(t.forced.at({WeightFormat::kF16, MatMulSize::kGemv}), MatMulKernel::kBf16Dot);
  }
}

TEST(KernelSpec, RefusesBadItemsNamingThem) {
  EXPECT_NE(ErrorOf("warp").find("unknown kernel 'warp'"), std::string::npos);
  EXPECT_NE(ErrorOf("bf16=warp").find("known: f32, int8, bf16-dot, amx-bf16"), std::string::npos);
  EXPECT_NE(ErrorOf("q9=f32").find("unknown selector 'q9'"), std::string::npos);
  EXPECT_NE(ErrorOf("bf16.gemx=f32").find("FORMAT.SIZE"), std::string::npos);
  EXPECT_NE(ErrorOf("gemv.bf16=f32").find("FORMAT.SIZE"), std::string::npos);
  EXPECT_NE(ErrorOf("f32,,f32").find("empty item"), std::string::npos);
  EXPECT_NE(ErrorOf("=f32").find("unknown selector"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(100000, 'x')).find("unknown kernel"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string("f32\0", 4)).find("unknown kernel"), std::string::npos);
  for (MatMulKernel k : kernels::kAllMatMulKernels) {
    const std::string name(kernels::MatMulKernelName(k));
    if (!kernels::MatMulKernelRuns(k)) {
      EXPECT_NE(ErrorOf(name).find("does not run on this CPU"), std::string::npos) << name;
    } else if (k == MatMulKernel::kInt8) {
      EXPECT_NE(ErrorOf("bf16=int8").find("does not take bf16"), std::string::npos);
      EXPECT_NE(ErrorOf("f32.gemm=int8").find("does not take f32"), std::string::npos);
    }
  }
}

// Random specs built from the grammar's pieces and stray bytes: every one either parses into
// forced kernels that run here and take their format, or is refused with a --kernels message;
// nothing else escapes (no crash, no other exception).
TEST(KernelSpec, RandomSpecsParseOrAreRefusedCleanly) {
  const std::vector<std::string> pieces = {"f32",
                                           "bf16",
                                           "f16",
                                           "q8",
                                           "q4",
                                           "gemv",
                                           "gemm",
                                           "int8",
                                           "bf16-dot",
                                           "amx-bf16",
                                           "auto",
                                           "measure",
                                           ",",
                                           "=",
                                           ".",
                                           " ",
                                           "\t",
                                           "x",
                                           "",
                                           "==",
                                           ",,",
                                           "\xff",
                                           std::string(1, '\0')};
  std::mt19937 rng(42);
  int parsed = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string spec;
    const int n = static_cast<int>(rng() % 8);
    for (int j = 0; j < n; ++j) spec += pieces[rng() % pieces.size()];
    try {
      const KernelSpec s = ParseKernelSpec(spec);
      ++parsed;
      for (const auto& [key, kernel] : s.forced) {
        ASSERT_TRUE(kernels::MatMulKernelRuns(kernel)) << spec;
        ASSERT_TRUE(kernels::MatMulKernelTakes(kernel, key.first)) << spec;
      }
    } catch (const Error& e) {
      ++refused;
      ASSERT_EQ(e.code(), ErrorCode::kInvalidArgument) << spec;
      ASSERT_EQ(std::string(e.what()).rfind("--kernels: '", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(refused, 100);
}

class KernelCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qwenvl_kernel_cache_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path() const { return (dir_ / "kernels.json").string(); }
  static std::string Machine(const ThreadPool& pool) {
    const std::string key = KernelCacheMachineKey(pool);
    EXPECT_EQ(key.rfind(ThisCpu().Key() + "|threads=" + std::to_string(pool.size()) + "|", 0), 0u)
        << key;
    EXPECT_NE(key.find("|kernels="), std::string::npos) << key;
    return key;
  }
  static nlohmann::json Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return nlohmann::json::parse(s.str());
  }
  static int Candidates(WeightFormat f) {
    int n = 0;
    for (MatMulKernel k : kernels::kAllMatMulKernels) {
      n += kernels::MatMulKernelRuns(k) && kernels::MatMulKernelTakes(k, f);
    }
    return n;
  }
  fs::path dir_;
  ThreadPool pool_{2};
};

TEST_F(KernelCacheTest, MeasuresOnceWritesTheCacheAndReadsItBack) {
  KernelChoice first(pool_, {.spec = "auto", .cache_path = Path()});
  first.Decide(WeightFormat::kQ8);
  const std::vector<KernelDecision> d = first.decisions();
  ASSERT_EQ(d.size(), 2u);
  for (const KernelDecision& x : d) {
    EXPECT_TRUE(kernels::MatMulKernelRuns(x.kernel) &&
                kernels::MatMulKernelTakes(x.kernel, x.format));
    if (x.how == "measured") {
      EXPECT_GE(x.ms.size(), 2u);
      for (const auto& [k, ms] : x.ms) EXPECT_GT(ms, 0.0);
    }
  }
  if (Candidates(WeightFormat::kQ8) < 2) GTEST_SKIP() << "one kernel runs here: nothing measured";
  const nlohmann::json cache = Read(Path());
  ASSERT_TRUE(cache.contains(Machine(pool_))) << cache.dump();
  EXPECT_EQ(cache[Machine(pool_)]["q8.gemm"], std::string(kernels::MatMulKernelName(d[1].kernel)));
  EXPECT_EQ(first.cache_problem(), "");
  // A cache written by hand (as another process would have) is taken as it is.
  nlohmann::json edited = cache;
  edited[Machine(pool_)]["q8.gemm"] = "f32";
  edited[Machine(pool_)]["q8.gemv"] = "f32";
  std::ofstream(dir_ / "edited.json") << edited.dump();
  KernelChoice second(pool_, {.spec = "auto", .cache_path = (dir_ / "edited.json").string()});
  EXPECT_EQ(second.Get(WeightFormat::kQ8, 100), MatMulKernel::kF32);
  EXPECT_EQ(second.Get(WeightFormat::kQ8, 1), MatMulKernel::kF32);
  for (const KernelDecision& x : second.decisions()) EXPECT_EQ(x.how, "cached");
}

TEST_F(KernelCacheTest, MeasureIgnoresAndRewritesTheCache) {
  if (Candidates(WeightFormat::kQ8) < 2) GTEST_SKIP() << "one kernel runs here: nothing measured";
  nlohmann::json stale;
  stale[Machine(pool_)]["q8.gemm"] = "f32";
  stale[Machine(pool_)]["q8.gemv"] = "f32";
  std::ofstream(Path()) << stale.dump();
  EXPECT_TRUE(ParseKernelSpec("measure").forced.empty());
  KernelChoice c(pool_, {.spec = "measure", .cache_path = Path()});
  c.Decide(WeightFormat::kQ8);
  for (const KernelDecision& x : c.decisions()) {
    EXPECT_EQ(x.how, "measured");
    EXPECT_EQ(
        Read(Path())[Machine(pool_)][std::string("q8.") + std::string(MatMulSizeName(x.size))],
        std::string(kernels::MatMulKernelName(x.kernel)));
  }
}

TEST_F(KernelCacheTest, BrokenOrForeignCacheEntriesAreMeasuredAgain) {
  if (Candidates(WeightFormat::kQ4) < 2) GTEST_SKIP() << "one kernel runs here: nothing measured";
  std::ofstream(Path()) << "{not json";
  KernelChoice broken(pool_, {.spec = "auto", .cache_path = Path()});
  broken.Decide(WeightFormat::kQ4);
  EXPECT_NE(broken.cache_problem().find("not a JSON object"), std::string::npos);
  EXPECT_TRUE(Read(Path()).contains(Machine(pool_)));  // rewritten whole
  nlohmann::json foreign;
  foreign[Machine(pool_)]["q4.gemm"] = "warp-drive";  // unknown name
  foreign[Machine(pool_)]["q4.gemv"] = 42;            // not a string
  foreign["other-cpu"]["q4.gemm"] = "f32";
  std::ofstream((dir_ / "foreign.json").string()) << foreign.dump();
  KernelChoice again(pool_, {.spec = "auto", .cache_path = (dir_ / "foreign.json").string()});
  again.Decide(WeightFormat::kQ4);
  for (const KernelDecision& x : again.decisions()) EXPECT_NE(x.how, "cached") << x.how;
  const nlohmann::json rewritten = Read((dir_ / "foreign.json").string());
  EXPECT_EQ(rewritten["other-cpu"]["q4.gemm"], "f32");  // other machines' entries are kept
  EXPECT_TRUE(rewritten[Machine(pool_)]["q4.gemm"].is_string());
  // Entries of this CPU measured with other kernel sources are dropped when the file is written.
  const std::string machine = Machine(pool_);
  const std::string stale = machine.substr(0, machine.find("|kernels=")) + "|kernels=0000";
  nlohmann::json old;
  old[stale]["q4.gemm"] = "f32";
  std::ofstream((dir_ / "stale.json").string()) << old.dump();
  KernelChoice fresh(pool_, {.spec = "auto", .cache_path = (dir_ / "stale.json").string()});
  fresh.Decide(WeightFormat::kQ4);
  const nlohmann::json pruned = Read((dir_ / "stale.json").string());
  EXPECT_FALSE(pruned.contains(stale)) << pruned.dump();
  EXPECT_TRUE(pruned.contains(machine)) << pruned.dump();
}

TEST_F(KernelCacheTest, UnwritableCacheStillDecides) {
  KernelChoice c(pool_, {.spec = "auto", .cache_path = "/proc/qwenvl-no/such/kernels.json"});
  c.Decide(WeightFormat::kBF16);
  EXPECT_EQ(c.decisions().size(), 2u);
  KernelChoice none(pool_, {.spec = "auto", .cache_path = "none"});
  EXPECT_EQ(none.cache_path(), "");
  none.Decide(WeightFormat::kBF16);
  EXPECT_EQ(none.cache_problem(), "");
}

TEST_F(KernelCacheTest, StoredFormatsRoundTheSameInGemvAndGemm) {
  for (const std::string spec :
       {"auto", "bf16.gemm=f32", "bf16.gemm=bf16-dot", "bf16.gemm=amx-bf16"}) {
    KernelSpec parsed;
    try {
      parsed = ParseKernelSpec(spec);
    } catch (const Error&) {
      continue;  // a kernel this CPU does not run
    }
    KernelChoice c(pool_, {.spec = spec, .cache_path = Path()});
    for (WeightFormat f : {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kF16}) {
      const MatMulKernel gemv = c.Get(f, 1), gemm = c.Get(f, 64);
      EXPECT_EQ(kernels::MatMulKernelRoundsToBf16(gemv), kernels::MatMulKernelRoundsToBf16(gemm))
          << spec << " " << WeightFormatName(f);
    }
    // auto never rounds f32 or f16 weights.
    if (spec == "auto") {
      EXPECT_EQ(c.Get(WeightFormat::kF32, 64), MatMulKernel::kF32);
      EXPECT_EQ(c.Get(WeightFormat::kF16, 1), MatMulKernel::kF32);
    }
  }
}

TEST_F(KernelCacheTest, FullyForcedFormatsAreNotMeasured) {
  KernelChoice c(pool_, {.spec = "f32", .cache_path = Path()});
  c.Decide(WeightFormat::kQ8);
  for (const KernelDecision& x : c.decisions()) {
    EXPECT_EQ(x.how, "forced");
    EXPECT_TRUE(x.ms.empty());
  }
  EXPECT_FALSE(fs::exists(Path()));  // nothing measured, nothing written
}

TEST_F(KernelCacheTest, EnvironmentSpecAppliesWhenTheOptionSaysAuto) {
  ::setenv("QWENVL_KERNELS", "f32", 1);
  KernelChoice env(pool_, {.spec = "auto", .cache_path = Path()});
  KernelChoice option(pool_, {.spec = "bf16.gemv=f32", .cache_path = Path()});
  ::unsetenv("QWENVL_KERNELS");
  EXPECT_EQ(env.Get(WeightFormat::kBF16, 64), MatMulKernel::kF32);
  for (const KernelDecision& x : env.decisions()) EXPECT_EQ(x.how, "forced");
  EXPECT_EQ(option.Get(WeightFormat::kBF16, 1), MatMulKernel::kF32);
  ::setenv("QWENVL_KERNELS", "nonsense", 1);
  EXPECT_THROW(KernelChoice(pool_, {.spec = "auto", .cache_path = Path()}), Error);
  ::unsetenv("QWENVL_KERNELS");
}

// The CPU backend computes MatMul with the kernel its choice names, for each size class.
TEST_F(KernelCacheTest, CpuBackendComputesWithTheChosenKernel) {
  CpuBackend backend(pool_, {.spec = "auto", .cache_path = Path()});
  const int64_t n = 40, k = 96;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<uint16_t> bits(n * k);
  for (uint16_t& b : bits) b = F32ToBf16(dist(rng));
  const HostMatrix host{kernels::WeightView{bits.data(), WeightFormat::kBF16, n, k}, false};
  const Weight w = backend.UploadWeight(host, HostMatrix{}, WeightUpload{});
  for (int64_t m : {1, 3, 8, 33}) {
    std::vector<float> x(m * k), expect(m * n), got(m * n);
    for (float& v : x) v = dist(rng);
    Buffer xb = backend.Allocate(m, k), yb = backend.Allocate(m, n);
    backend.Upload(x, xb);
    backend.MatMul(xb, w, yb);
    backend.Download(yb, got);
    const MatMulKernel kernel = backend.kernel_choice().decisions()[m < 8 ? 0 : 1].kernel;
    kernels::MatMul(x.data(), m, host.view, nullptr, expect.data(), pool_, kernel);
    EXPECT_EQ(0, std::memcmp(got.data(), expect.data(), got.size() * 4))
        << "m=" << m << " kernel " << kernels::MatMulKernelName(kernel);
  }
}

}  // namespace
}  // namespace qwenvl::compute
