// ResultStore: where the images of finished tasks live, keyed by (task id, lease, index): files in
// the data dir (FsResultStore), values in Redis (results/redis/redis_result_store.h) or objects in
// an S3-compatible bucket (results/s3/s3_result_store.h). Every implementation passes the same
// contract suite (result_store_contract.h).
//
// Why the key has the lease's fencing number: a worker that lost its lease may still upload its
// images. Were outputs keyed by (task, index) alone, its upload would overwrite the images of the
// worker that holds the lease now, and deleting its upload after the refused completion would
// delete theirs. With the fencing number in the key, each lease writes only its own outputs, the
// task record names the lease that completed it (Task::fencing), and a stale upload is removed
// by DeleteLease without touching anything else.
//
// Contract, for every implementation:
//  - Thread-safe: any method may be called from any thread at any time.
//  - Atomic: Put either stores the whole record or nothing. A concurrent or later Get sees the
//    previous record, no record, or the complete new one — never a partial one. Putting the same
//    key again replaces the record atomically (the last Put wins).
//  - Durable: when Put returns OK the record survives a crash of the process (and, with
//    sync on, of the machine). PutBatch makes a worker's batch durable together: when it returns
//    OK every record of it is; an implementation may do that with one sync for the lot.
//  - Verified: Put records the SHA-256 of the bytes; Get checks it and answers kDataLoss when
//    the stored bytes do not match (corrupt or truncated), never the wrong bytes.
//  - Expiry is the caller's: nothing is deleted by the store on its own. The service deletes a
//    task's outputs when TaskStore::Reap reports their retention passed (outputs_expired).
//  - Listing: ListLeases names every lease that holds outputs, for the housekeeper's sweep of
//    outputs no lease owns (a lease lost after its images were stored). A store with a safety
//    net of its own for such leftovers (Redis TTL, S3 lifecycle rule) may answer kUnimplemented;
//    the sweep then leaves them to it.
//  - Inputs: the images a request gives (init_image, mask_image) are stored once by content,
//    keyed by the hex SHA-256 of their bytes (PutInput, GetInput, DeleteInput), in the same
//    store as the outputs so that every worker reaches them. The base class keeps each as the
//    record (InputKey(sha256), fencing 0, index 0) through Put, Get and Delete, so every
//    implementation has them, verified like outputs; InputKey's "inp_" prefix is no task id, so
//    the housekeeper's sweep of outputs leaves inputs alone (it removes them by their own rule:
//    service/housekeeper.h).
//  - Errors: kNotFound (no such record), kDataLoss (checksum or format mismatch),
//    kInvalidArgument (a task id that is not a safe key, a negative index), kUnavailable (the
//    backing store cannot be reached; retry), kInternal otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/status.h"

namespace stipple {

// One lease's outputs in a store: the task and the lease's fencing number.
struct StoredLease {
  std::string task_id;
  uint64_t fencing = 0;
  bool operator==(const StoredLease&) const = default;
};

// What Put stored: enough to fill TaskOutput's size and etag.
struct StoredOutput {
  int64_t size_bytes = 0;
  std::string sha256_hex;  // 64 lowercase hex digits of the bytes' SHA-256
  std::string etag;        // the strong HTTP validator: the hex digest in double quotes
  bool operator==(const StoredOutput&) const = default;
};

// One record of a PutBatch.
struct OutputToStore {
  std::string task_id;
  uint64_t fencing = 0;
  int index = 0;
  std::string_view bytes;  // must outlive the PutBatch call
};

struct OutputBytes {
  StoredOutput record;
  std::string bytes;
};

class ResultStore {
 public:
  virtual ~ResultStore() = default;

  // Stores output `index` of `task_id` made under the lease with fencing number `fencing`.
  virtual Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                                   std::string_view bytes) = 0;

  // Stores several records (the images of a worker's batch, of one or more tasks), each as Put
  // would, and makes them durable together. OK: every record is stored (one StoredOutput per
  // item, in order). An error (any item's invalid key first, before anything is written): some
  // records may be stored, as after a failed Put; the caller deletes them with DeleteLease. The
  // base class calls Put for each record in turn (the semantics of Redis and S3: each Put is
  // durable on its own); FsResultStore writes the batch into one file with one fsync.
  virtual Result<std::vector<StoredOutput>> PutBatch(std::span<const OutputToStore> outputs);

  // The bytes, verified against the checksum recorded by Put.
  virtual Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) = 0;

  // Removes every output of one lease of the task (a refused, stale completion). OK when there
  // is none.
  virtual Status DeleteLease(const std::string& task_id, uint64_t fencing) = 0;

  // Removes every output of the task, whatever the lease (retention passed). OK when none.
  virtual Status Delete(const std::string& task_id) = 0;

  // Every lease that holds at least one complete output (see the file comment); the base
  // class's answer is kUnimplemented.
  virtual Result<std::vector<StoredLease>> ListLeases();

  // Stores an input image's bytes under their SHA-256 (StoredOutput::sha256_hex is the key).
  // Putting the same bytes again is harmless: the same record, replaced atomically.
  Result<StoredOutput> PutInput(std::string_view bytes);
  // The bytes of the input stored under `sha256_hex`, verified; kNotFound when there is none,
  // kInvalidArgument for a key that is not 64 lowercase hex digits.
  Result<OutputBytes> GetInput(const std::string& sha256_hex);
  // Removes the input; OK when there is none.
  Status DeleteInput(const std::string& sha256_hex);
};

// The record key of an input ("inp_" + its hex SHA-256), and its inverse: the SHA-256 of a key
// that is an input's, else empty.
std::string InputKey(std::string_view sha256_hex);
std::string InputSha256FromKey(std::string_view key);

// The etag made from a record's SHA-256 (Sha256Hex, common/digest.h).
std::string EtagForSha256(std::string_view sha256_hex);

// True when `task_id` can be used as a key by every implementation: 1..128 characters of
// [A-Za-z0-9_-] (task ids are "tsk_" + a ULID).
bool IsValidOutputKey(std::string_view task_id);

}  // namespace stipple
