// A team of threads for a blocked computation: independent row blocks are
// split between the calling thread and helper threads that live as long as
// the team (one blocked computation), as many threads in all as OpenBLAS
// uses (the application's choice of how many cores numerics may take).
// Helpers sleep on a condition variable between runs and never spin.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace att {

// A non-owning reference to a callable part(begin, end, worker) that handles
// the rows [begin, end) on the team's thread number `worker` (0 for the
// calling thread, so a part may use per-thread scratch) and does not throw.
// Unlike std::function it never allocates, so running a team cannot fail;
// the callable must outlive the reference (a lambda passed straight to
// WorkerTeam::run does).
class PartRef {
 public:
  template <class F>
  PartRef(const F &f) : object_(&f), call_(&invoke<F>) {}
  void operator()(int64_t begin, int64_t end, int worker) const {
    call_(object_, begin, end, worker);
  }

 private:
  template <class F>
  static void invoke(const void *f, int64_t begin, int64_t end, int worker) {
    (*static_cast<const F *>(f))(begin, end, worker);
  }
  const void *object_;
  void (*call_)(const void *, int64_t, int64_t, int);
};

class WorkerTeam {
 public:
  using Part = PartRef;

  // Starts up to `helpers` helper threads; fewer, down to none, when the
  // system refuses to start one or memory for it (the caller's thread then
  // does the rest). Never throws: constructing and running a team cannot
  // fail.
  explicit WorkerTeam(int helpers);
  ~WorkerTeam();
  WorkerTeam(const WorkerTeam &) = delete;
  WorkerTeam &operator=(const WorkerTeam &) = delete;

  // Threads in all for a computation on about `entries` logits: the caller
  // alone below 2^18 (a few hundred microseconds of work, where starting a
  // thread would cost more than it saves), else as many as OpenBLAS uses
  // (the application's choice of how many cores numerics may take).
  static int threads_for(int64_t entries);

  // Runs `part` over [0, n) in chunks of `chunk` rows that the threads
  // take in turn as they finish the previous one (a helper that shares its
  // core with another thread just takes fewer), and returns when every
  // chunk is done.
  void run(int64_t n, int64_t chunk, Part part);

 private:
  void serve(int worker);
  void work(int worker);

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  const Part *part_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};  // first row of the next chunk to take
  uint64_t round_ = 0;            // counts run() calls; a helper works once per round
  int busy_ = 0;                  // helpers still working on the current round
  bool stop_ = false;
};

}  // namespace att
