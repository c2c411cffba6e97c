// The model binds its weights by the checkpoint table (io/checkpoint_layout.h): every tensor that
// loading checks is uploaded, and nothing else, so a binder that names a tensor of its own, or
// leaves one of the table unread, fails here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "compute/cpu_backend.h"
#include "io/checkpoint_layout.h"
#include "io/safetensors_writer.h"
#include "io/test_checkpoint.h"
#include "model/qwen2_5_vl.h"
#include "test_models.h"

namespace qwenvl::model {
namespace {

namespace fs = std::filesystem;
const std::string kData = QWENVL_TEST_DATA "/qwen2.5-vl-3b-instruct";

// A CPU backend that notes where each weight it is given lies. The model takes all its weights from
// the checkpoint mapping, so each address is the start of one tensor of the store.
class RecordingBackend : public compute::CpuBackend {
 public:
  using CpuBackend::CpuBackend;

  compute::Weight UploadWeight(const compute::HostMatrix& w, const compute::HostMatrix& bias,
                               const compute::WeightUpload& how) override {
    uploaded.insert(w.view.data);
    if (bias.view.data != nullptr) uploaded.insert(bias.view.data);
    return CpuBackend::UploadWeight(w, bias, how);
  }
  compute::Buffer UploadConverted(const compute::HostMatrix& m) override {
    uploaded.insert(m.view.data);
    return CpuBackend::UploadConverted(m);
  }

  std::set<const void*> uploaded;
};

// The names of the store's tensors at the uploaded addresses; an address that starts no tensor
// is a failure.
std::set<std::string> BoundNames(const io::TensorStore& store,
                                 const std::set<const void*>& uploaded) {
  std::map<const void*, std::string> name_at;
  for (const std::string& name : store.Names()) name_at[store.Get(name).data] = name;
  std::set<std::string> names;
  for (const void* address : uploaded) {
    const auto it = name_at.find(address);
    if (it == name_at.end()) {
      ADD_FAILURE() << "the model uploaded a matrix that is not a checkpoint tensor";
      continue;
    }
    names.insert(it->second);
  }
  return names;
}

std::set<std::string> TableNames(const io::ModelConfig& config) {
  std::set<std::string> names;
  for (const io::ExpectedTensor& e : io::ExpectedTensors(config)) names.insert(e.name);
  return names;
}

// Names the tensors on either side of a disagreement, rather than printing both whole sets.
void ExpectBoundIsTable(const std::set<std::string>& bound, const std::set<std::string>& table,
                        const std::string& what) {
  std::vector<std::string> unbound, outside;
  std::ranges::set_difference(table, bound, std::back_inserter(unbound));
  std::ranges::set_difference(bound, table, std::back_inserter(outside));
  EXPECT_THAT(unbound, ::testing::IsEmpty()) << what << ": table tensors the model left unbound";
  EXPECT_THAT(outside, ::testing::IsEmpty()) << what << ": tensors bound from outside the table";
}

// A copy of t's bytes under `name`, for rewriting a checkpoint.
io::OwnedTensor CopyOf(const io::TensorInfo& t, const std::string& name) {
  io::OwnedTensor copy;
  copy.spec.name = name;
  copy.spec.dtype = t.dtype;
  copy.spec.shape = t.shape;
  copy.bytes.assign(t.data, t.data + t.nbytes);
  return copy;
}

fs::path TempDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("qwenvl_binding_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// The names a model opened from dir binds, on a backend that records its uploads.
std::set<std::string> BindAndRecord(const fs::path& dir, io::CheckpointReport* report = nullptr) {
  RecordingBackend backend(testing::TestPool());
  const Model model(dir.string(), backend);
  if (report != nullptr) *report = model.folder().report;
  return BoundNames(model.folder().tensors, backend.uploaded);
}

TEST(CheckpointBinding, EveryTableTensorIsBoundAndNothingElse) {
  for (const std::string preset : {"tiny", "small"}) {  // tied and untied embeddings
    const fs::path dir = TempDir(preset);
    io::WriteTestModel(io::GetTestModelPreset(preset), dir.string(), kData);
    const io::ModelConfig config = io::ModelFolder::Open(dir.string()).config;
    ExpectBoundIsTable(BindAndRecord(dir), TableNames(config), preset);
    fs::remove_all(dir);
  }
}

// A tied checkpoint re-saved with lm_head.weight binds its head from that tensor (§1.3), and a
// tensor outside the table stays unbound even where a binder could plausibly reach for it (the
// decoder's o_proj has no bias).
TEST(CheckpointBinding, TensorsOutsideTheTableStayUnbound) {
  const fs::path dir = TempDir("extra");
  io::WriteTestModel(io::GetTestModelPreset("tiny"), dir.string(), kData);
  const io::ModelConfig config = io::ModelFolder::Open(dir.string()).config;
  ASSERT_TRUE(config.text.tie_word_embeddings);
  const std::string decoy = "model.layers.0.self_attn.o_proj.bias";
  {
    io::TensorStore store = io::TensorStore::OpenModelDir(dir.string());
    std::vector<io::OwnedTensor> tensors;
    for (const std::string& name : store.Names()) tensors.push_back(CopyOf(store.Get(name), name));
    tensors.push_back(CopyOf(store.Get("model.embed_tokens.weight"), "lm_head.weight"));
    const std::vector<uint16_t> zeros(static_cast<size_t>(config.text.hidden_size));
    tensors.push_back(io::MakeTensor<uint16_t>(decoy, io::DType::kBF16, {config.text.hidden_size},
                                               std::span<const uint16_t>(zeros)));
    io::WriteSafetensors((dir / "model.safetensors.tmp").string(), tensors);
  }
  fs::rename(dir / "model.safetensors.tmp", dir / "model.safetensors");

  io::CheckpointReport report;
  std::set<std::string> expected = TableNames(config);
  expected.insert("lm_head.weight");
  ExpectBoundIsTable(BindAndRecord(dir, &report), expected, "tiny with extra tensors");
  EXPECT_FALSE(report.lm_head_tied);
  EXPECT_EQ(report.unused, std::vector<std::string>{decoy});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qwenvl::model
