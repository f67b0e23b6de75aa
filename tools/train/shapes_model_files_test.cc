#include "shapes_model_files.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file.h"
#include "engine/clip_text_config.h"
#include "engine/clip_tokenizer.h"
#include "engine/scheduler_config.h"
#include "engine/unet2d_config.h"
#include "eval_prompts.h"
#include "shapes_dataset.h"

namespace stipple::shapes {
namespace {

namespace fs = std::filesystem;

TEST(ShapesBpe, EveryCaptionWordIsOneToken) {
  BpeFiles bpe = ShapesBpe();
  auto tokenizer = ClipTokenizer::FromText(bpe.vocab_json, bpe.merges_txt, {});
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ((*tokenizer)->vocab_size(), bpe.vocab_size);
  EXPECT_EQ((*tokenizer)->eos_id(), bpe.vocab_size - 1);
  EXPECT_EQ((*tokenizer)->bos_id(), bpe.vocab_size - 2);
  for (const std::string& word : CaptionVocabulary()) {
    std::vector<int32_t> ids = (*tokenizer)->Tokenize(word);
    ASSERT_EQ(ids.size(), 1u) << word;
    EXPECT_EQ(ids[0], (*tokenizer)->TokenId(word + "</w>")) << word;
  }
  // A caption's words and commas, one token each.
  EXPECT_EQ((*tokenizer)->Tokenize("on the left, a big red circle").size(), 8u);
  // Other words fall apart into pieces, but never into unknown tokens.
  EXPECT_GT((*tokenizer)->Tokenize("paint").size(), 1u);
}

TEST(ShapesModelDir, WritesAFolderTheEngineReads) {
  const fs::path dir = fs::path(testing::TempDir()) / "shapes_model_dir";
  fs::remove_all(dir);
  ASSERT_TRUE(InitializeShapesModelDir(dir.string()).ok());
  // No weights yet; every config must parse.
  auto text = ReadTextFile((dir / "text_encoder/config.json").string());
  ASSERT_TRUE(text.ok());
  auto clip = ParseClipTextConfig(*text, "text_encoder/config.json");
  ASSERT_TRUE(clip.ok()) << clip.status().ToString();
  EXPECT_EQ(clip->hidden_size, 64);
  EXPECT_EQ(clip->max_position_embeddings, kShapesMaxTokens);
  EXPECT_EQ(clip->vocab_size, ShapesBpe().vocab_size);
  auto unet_text = ReadTextFile((dir / "unet/config.json").string());
  ASSERT_TRUE(unet_text.ok());
  auto unet = ParseUNet2DConditionConfig(*unet_text, "unet/config.json");
  ASSERT_TRUE(unet.ok()) << unet.status().ToString();
  EXPECT_EQ(unet->in_channels, 3);
  EXPECT_EQ(unet->sample_width, 32);
  auto scheduler_text = ReadTextFile((dir / "scheduler/scheduler_config.json").string());
  ASSERT_TRUE(scheduler_text.ok());
  auto scheduler = ParseSchedulerConfig(*scheduler_text, "scheduler_config.json");
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().ToString();
  EXPECT_EQ(scheduler->default_scheduler, "ddim");
  EXPECT_EQ(scheduler->clip_sample, true);

  auto tokenizer = ClipTokenizer::LoadDirectory((dir / "tokenizer").string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ((*tokenizer)->max_length(), kShapesMaxTokens);
  // Every evaluation prompt fits, so no attribute word is cut off.
  for (const EvalPrompt& p : EvalPrompts()) {
    EXPECT_LE((*tokenizer)->Tokenize(p.text).size(), static_cast<size_t>(kShapesMaxTokens - 2))
        << p.text;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stipple::shapes
