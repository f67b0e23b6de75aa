// Thread-safety annotations that Clang checks at compile time (-Wthread-safety; `make
// lint-threads`) and every other compiler ignores (the macros are empty), and `Mutex`/`MutexLock`,
// the annotated mutex and lock that carry them (libstdc++'s std::mutex and std::lock_guard carry
// none, so the analysis cannot see them).
//
// How a class that owns a mutex uses them:
//
//   mutable Mutex mu_;
//   std::deque<Job> jobs_ GUARDED_BY(mu_);           // read or written only with mu_ held
//   void DrainLocked() REQUIRES(mu_);                 // the caller holds mu_
//   void Submit(Job job) EXCLUDES(mu_);               // takes mu_ itself
//
//   { MutexLock lock(mu_); jobs_.push_back(...); }    // held until the end of the scope
//   cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return !jobs_.empty(); });
//
// A lambda is checked as a function of its own: one that reads guarded members under a lock its
// caller holds says so with REQUIRES. The check is Clang's "thread-safety" group of warnings; what
// it proves and what it cannot (it follows locks within a function, not across threads or
// through pointers it cannot name) is in docs/development.md.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define STIPPLE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define STIPPLE_THREAD_ANNOTATION(x)
#endif

// On a type: it is a capability (a lock) that the analysis tracks.
#define CAPABILITY(name) STIPPLE_THREAD_ANNOTATION(capability(name))
// On an RAII type: it acquires a capability for its lifetime.
#define SCOPED_CAPABILITY STIPPLE_THREAD_ANNOTATION(scoped_lockable)
// On a member: read or written only with the capability held.
#define GUARDED_BY(x) STIPPLE_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is accessed only with the capability held.
#define PT_GUARDED_BY(x) STIPPLE_THREAD_ANNOTATION(pt_guarded_by(x))
// On a function: the caller must hold (REQUIRES) or must not hold (EXCLUDES) the capability.
#define REQUIRES(...) STIPPLE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) STIPPLE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) STIPPLE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it acquires, releases, or tries to acquire (answering `ok` when it did).
#define ACQUIRE(...) STIPPLE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) STIPPLE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) STIPPLE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) STIPPLE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) STIPPLE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: it answers the capability named (a getter of a mutex).
#define RETURN_CAPABILITY(x) STIPPLE_THREAD_ANNOTATION(lock_returned(x))
// On a function the analysis cannot follow (its reason in a comment beside it).
#define NO_THREAD_SAFETY_ANALYSIS STIPPLE_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace stipple {

// std::mutex as a capability.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction (or Unlock), like std::unique_lock; native() is
// the std::unique_lock that std::condition_variable waits with (it releases the mutex while it
// waits and holds it again when the wait returns, so the analysis's view stays true).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Releases the mutex before the end of the scope / takes it again.
  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }

  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// std::shared_mutex as a capability: held exclusively (WriterLock) or shared (ReaderLock).
class CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() RELEASE() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace stipple
