// The library's helper threads: one team per process, as many threads in
// all as OpenBLAS uses (the application's choice of how many cores numerics
// may take), started by the first computation that may allocate and has
// rows enough for them (a store's construction: init, load, clone, a static
// attention call; SoftmaxTiles) and asleep on a condition variable between
// computations; they never spin.
//
// A computation is split into chunks; the calling thread and each helper
// take those of their own contiguous share first, then what is left of the
// others'. The caller never waits for a helper to wake: it takes every chunk
// no helper has taken, and at the end waits only for chunks a helper is
// still working on. So running a computation never allocates and cannot
// fail, and it runs on the calling thread alone when the team is busy with
// another thread's computation, when the system refused the helpers, or in
// a child process after fork (where the parent's helpers do not exist).
#pragma once

#include <cstdint>

namespace att::team {

// A non-owning reference to a callable part(begin, end, worker) that handles
// the chunk [begin, end) on the team's thread number `worker` (0 for the
// calling thread, so a part may use per-thread scratch) and does not throw.
// Unlike std::function it never allocates; the callable must outlive the
// reference (a lambda passed straight to run() does).
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

// Starts the process's helpers unless they run: OpenBLAS's thread count
// less one, fewer, down to none, when the system refuses a thread. May
// allocate; never throws.
void start();

// Threads for a computation of about `multiply_adds` multiply-adds: the
// caller alone below 2^21 (some tens of microseconds of one core, about
// what waking a helper costs), else the team's threads, no more than
// OpenBLAS uses now (the caller alone when the team has not been started).
int threads_for(double multiply_adds);

// Runs `part` over [0, n) in chunks of `chunk` (the last one shorter; more
// when n has more than 2^31 - 1 chunks) on at most `threads` threads, the
// caller's included, and returns when every chunk is done. Worker numbers
// stay below `threads`.
void run(int64_t n, int64_t chunk, int threads, PartRef part);

}  // namespace att::team
