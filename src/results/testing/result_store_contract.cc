#include "results/testing/result_store_contract.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/id.h"

namespace stipple {
namespace {

constexpr uint64_t kLease = 7;

std::string Payload(char fill, size_t size) { return std::string(size, fill); }

TEST_P(ResultStoreContract, PutThenGetReturnsTheSameBytes) {
  std::string id = NewId("tsk");
  std::string bytes = "\x89PNG\r\n\x1a\n some image bytes";
  ASSERT_TRUE(store().Put(id, kLease, 0, bytes).ok());
  auto got = store().Get(id, kLease, 0);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, bytes);
}

TEST_P(ResultStoreContract, PutReportsSizeSha256AndQuotedEtag) {
  auto put = store().Put(NewId("tsk"), kLease, 0, "abc");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->size_bytes, 3);
  EXPECT_EQ(put->sha256_hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(put->etag, "\"" + put->sha256_hex + "\"");
}

TEST_P(ResultStoreContract, GetReportsTheRecordPutStored) {
  std::string id = NewId("tsk");
  auto put = store().Put(id, kLease, 2, "pixels");
  ASSERT_TRUE(put.ok());
  auto got = store().Get(id, kLease, 2);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->record, *put);
}

TEST_P(ResultStoreContract, EmptyOutputRoundTrips) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, kLease, 0, "").ok());
  auto got = store().Get(id, kLease, 0);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, "");
  EXPECT_EQ(got->record.size_bytes, 0);
}

TEST_P(ResultStoreContract, MissingOutputIsNotFound) {
  std::string id = NewId("tsk");
  EXPECT_EQ(store().Get(id, kLease, 0).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store().Put(id, kLease, 0, "a").ok());
  EXPECT_EQ(store().Get(id, kLease, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get(id, kLease + 1, 0).status().code(), StatusCode::kNotFound);
}

TEST_P(ResultStoreContract, PuttingTheSameKeyAgainReplacesTheRecord) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, kLease, 0, "first").ok());
  ASSERT_TRUE(store().Put(id, kLease, 0, "second").ok());
  auto got = store().Get(id, kLease, 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->bytes, "second");
}

TEST_P(ResultStoreContract, EachLeaseHasItsOwnOutputs) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, 1, 0, "stale worker").ok());
  ASSERT_TRUE(store().Put(id, 2, 0, "current worker").ok());
  EXPECT_EQ(store().Get(id, 1, 0)->bytes, "stale worker");
  EXPECT_EQ(store().Get(id, 2, 0)->bytes, "current worker");
}

TEST_P(ResultStoreContract, DeleteLeaseRemovesOnlyThatLeasesOutputs) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, 1, 0, "a").ok());
  ASSERT_TRUE(store().Put(id, 1, 1, "b").ok());
  ASSERT_TRUE(store().Put(id, 11, 0, "c").ok());  // a prefix of another lease's number
  ASSERT_TRUE(store().DeleteLease(id, 1).ok());
  EXPECT_EQ(store().Get(id, 1, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get(id, 1, 1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().Get(id, 11, 0).ok());
}

TEST_P(ResultStoreContract, DeleteRemovesEveryOutputOfTheTaskOnly) {
  std::string id = NewId("tsk");
  std::string other = NewId("tsk");
  ASSERT_TRUE(store().Put(id, 1, 0, "a").ok());
  ASSERT_TRUE(store().Put(id, 2, 3, "b").ok());
  ASSERT_TRUE(store().Put(other, 1, 0, "c").ok());
  ASSERT_TRUE(store().Delete(id).ok());
  EXPECT_EQ(store().Get(id, 1, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get(id, 2, 3).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().Get(other, 1, 0).ok());
}

TEST_P(ResultStoreContract, DeletingWhatDoesNotExistIsOk) {
  EXPECT_TRUE(store().Delete(NewId("tsk")).ok());
  EXPECT_TRUE(store().DeleteLease(NewId("tsk"), kLease).ok());
}

TEST_P(ResultStoreContract, UnsafeTaskIdsAndNegativeIndexesAreInvalidArguments) {
  for (const std::string id : {"", "../escape", "a/b", "tsk .png"}) {
    EXPECT_EQ(store().Put(id, kLease, 0, "x").status().code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store().Get(id, kLease, 0).status().code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store().Delete(id).code(), StatusCode::kInvalidArgument) << id;
  }
  EXPECT_EQ(store().Put(NewId("tsk"), kLease, -1, "x").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(ResultStoreContract, PutBatchStoresEveryRecordOfABatch) {
  const std::string a = NewId("tsk");
  const std::string b = NewId("tsk");
  const std::vector<OutputToStore> batch = {
      {a, 3, 0, "first image"}, {a, 3, 1, "second image"}, {b, 9, 0, ""}};
  auto put = store().PutBatch(batch);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  ASSERT_EQ(put->size(), 3u);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto got = store().Get(batch[i].task_id, batch[i].fencing, batch[i].index);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->bytes, batch[i].bytes);
    EXPECT_EQ(got->record, (*put)[i]);
  }
  EXPECT_EQ((*put)[0].size_bytes, 11);
  EXPECT_EQ((*put)[2].sha256_hex, Sha256Hex(""));
}

TEST_P(ResultStoreContract, DeletingOneTaskOfABatchKeepsTheOthers) {
  const std::string a = NewId("tsk");
  const std::string b = NewId("tsk");
  const std::vector<OutputToStore> batch = {{a, 1, 0, "a"}, {b, 1, 0, "b"}, {b, 2, 0, "b2"}};
  ASSERT_TRUE(store().PutBatch(batch).ok());
  ASSERT_TRUE(store().DeleteLease(b, 1).ok());
  EXPECT_EQ(store().Get(b, 1, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get(b, 2, 0)->bytes, "b2");
  ASSERT_TRUE(store().Delete(a).ok());
  EXPECT_EQ(store().Get(a, 1, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get(b, 2, 0)->bytes, "b2");
}

TEST_P(ResultStoreContract, PutAndPutBatchOfOneKeyLastWriteWins) {
  const std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, kLease, 0, "single").ok());
  const std::vector<OutputToStore> batch = {{id, kLease, 0, "batched"}};
  ASSERT_TRUE(store().PutBatch(batch).ok());
  EXPECT_EQ(store().Get(id, kLease, 0)->bytes, "batched");
  ASSERT_TRUE(store().Put(id, kLease, 0, "single again").ok());
  EXPECT_EQ(store().Get(id, kLease, 0)->bytes, "single again");
}

TEST_P(ResultStoreContract, PutBatchWithAnInvalidKeyStoresNothing) {
  const std::string id = NewId("tsk");
  const std::vector<OutputToStore> batch = {{id, 1, 0, "x"}, {"../escape", 1, 0, "y"}};
  EXPECT_EQ(store().PutBatch(batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Get(id, 1, 0).status().code(), StatusCode::kNotFound);
  const std::vector<OutputToStore> negative = {{id, 1, -1, "x"}};
  EXPECT_EQ(store().PutBatch(negative).status().code(), StatusCode::kInvalidArgument);
}

// Writers replace one key over and over while readers read it: every read is one of the
// complete payloads, never a mix or a prefix.
TEST_P(ResultStoreContract, ReadersNeverSeeAPartialRecord) {
  std::string id = NewId("tsk");
  const std::vector<std::string> payloads = {Payload('a', 200'000), Payload('b', 150'000),
                                             Payload('c', 1)};
  ASSERT_TRUE(store().Put(id, kLease, 0, payloads[0]).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 20; ++i) {
        if (!store().Put(id, kLease, 0, payloads[static_cast<size_t>((w + i) % 3)]).ok()) ++bad;
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      auto got = store().Get(id, kLease, 0);
      if (!got.ok() ||
          (got->bytes != payloads[0] && got->bytes != payloads[1] && got->bytes != payloads[2])) {
        ++bad;
      }
    }
  });
  threads[0].join();
  threads[1].join();
  stop = true;
  threads[2].join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(ResultStoreContract, InputsAreStoredOnceByContentHash) {
  const std::string bytes = "\x89PNG\r\n\x1a\n an input image";
  auto put = store().PutInput(bytes);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->sha256_hex, Sha256Hex(bytes));
  auto again = store().PutInput(bytes);  // the same bytes: the same record
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *put);
  auto got = store().GetInput(put->sha256_hex);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, bytes);
  EXPECT_EQ(got->record.sha256_hex, put->sha256_hex);
  // Outputs of tasks and their deletion leave inputs alone.
  const std::string id = NewId("tsk");
  ASSERT_TRUE(store().Put(id, kLease, 0, bytes).ok());
  ASSERT_TRUE(store().Delete(id).ok());
  EXPECT_TRUE(store().GetInput(put->sha256_hex).ok());
  ASSERT_TRUE(store().DeleteInput(put->sha256_hex).ok());
  EXPECT_EQ(store().GetInput(put->sha256_hex).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store().DeleteInput(put->sha256_hex).ok());
}

TEST_P(ResultStoreContract, InputKeysMustBeSha256Hex) {
  EXPECT_EQ(store().GetInput("../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().GetInput(std::string(64, 'A')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().DeleteInput("abc").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().GetInput(Sha256Hex("never stored")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(InputSha256FromKey(InputKey(Sha256Hex("x"))), Sha256Hex("x"));
  EXPECT_EQ(InputSha256FromKey(NewId("tsk")), "");
}

}  // namespace
}  // namespace stipple
