#include "worker_team.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "blas.hpp"

namespace att::team {
namespace {

// A process's team. The team that start() installs is never destroyed: its
// helpers sleep until the process ends.
//
// A computation is a round. Its owner (the thread in run()) writes the
// round's fields, opens the round under the mutex and wakes the helpers;
// a helper joins by counting itself in `active` and then checking that the
// round is still open. When no chunk is left the owner closes the round
// (open = 0) and then waits until `active` is 0. Both sides make their two
// steps in opposite order on sequentially consistent atomics, so either the
// owner sees the helper counted (and waits for it) or the helper sees the
// round closed (and touches none of its fields, which the next owner may be
// writing).
//
// The chunks are split into one contiguous region per thread. A thread takes
// the chunks of its own region from the front, then those left in the
// others' from the back, so that neighbouring chunks go to the same core:
// handed out in turn, chunks of 192 rows made a fold's product about 40 %
// slower on two cores than contiguous halves (the cores' prefetchers reach
// into each other's chunks), and a helper that starts late, or never,
// leaves its region to the others.
struct alignas(64) Region {
  std::atomic<uint64_t> span{0};  // pack(front, back)
};

struct Team {
  std::mutex mutex;
  std::condition_variable wake;    // a helper waits for a new round (or stop)
  std::condition_variable idle;    // the owner waits for active == 0
  uint64_t round = 0;              // under mutex: the last round opened
  bool stop = false;               // under mutex: only for a team start() discarded
  std::atomic<uint64_t> open{0};   // the round helpers may join; 0 once closed
  std::atomic<int> active{0};      // helpers that counted themselves in
  std::atomic<bool> owned{false};  // a thread is running a computation
  // The round's computation, fixed while it is open.
  const PartRef *part = nullptr;
  int64_t n = 0, chunk = 1;
  int threads = 1;
  std::vector<Region> regions;  // one per thread, the caller's first
  std::vector<std::thread> helpers;
  Team *parent = nullptr;  // after fork: the parent's team, kept reachable
};

std::atomic<Team *> current{nullptr};
std::atomic<Team *> forgotten{nullptr};  // teams of parent processes

// A region's span: the chunks [front, back), front in the low 32 bits.
uint64_t pack(uint64_t front, uint64_t back) { return front | back << 32; }
uint64_t front_of(uint64_t span) { return span & 0xffffffffu; }
uint64_t back_of(uint64_t span) { return span >> 32; }
uint64_t left_in(uint64_t span) {
  return front_of(span) < back_of(span) ? back_of(span) - front_of(span) : 0;
}

// The next chunk for thread `worker`, or -1 when none is left.
int64_t take(Team &t, int worker) {
  Region &own = t.regions[static_cast<size_t>(worker)];
  for (uint64_t s = own.span.load(); left_in(s) > 0;)
    if (own.span.compare_exchange_weak(s, s + 1)) return static_cast<int64_t>(front_of(s));
  for (;;) {
    // The region with the most chunks left, from its back.
    Region *most = nullptr;
    uint64_t left = 0;
    for (int w = 0; w < t.threads; ++w) {
      Region &r = t.regions[static_cast<size_t>(w)];
      const uint64_t n = left_in(r.span.load());
      if (n > left) {
        left = n;
        most = &r;
      }
    }
    if (most == nullptr) return -1;
    for (uint64_t s = most->span.load(); left_in(s) > 0;)
      if (most->span.compare_exchange_weak(s, pack(front_of(s), back_of(s) - 1)))
        return static_cast<int64_t>(back_of(s) - 1);
  }
}

void work(Team &t, int worker) {
  for (int64_t c; (c = take(t, worker)) >= 0;)
    (*t.part)(c * t.chunk, std::min(t.n, (c + 1) * t.chunk), worker);
}

void serve(Team *t, int worker) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(t->mutex);
      t->wake.wait(lock, [&] { return t->stop || t->round != seen; });
      if (t->stop) return;
      seen = t->round;
    }
    t->active.fetch_add(1);
    if (t->open.load() == seen && worker < t->threads) work(*t, worker);
    if (t->active.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(t->mutex);
      t->idle.notify_all();
    }
  }
}

// In a child process after fork the helpers do not exist: computations run
// on the calling thread until a computation that may allocate starts a team
// of the child's own.
void forget_in_child() {
  Team *t = current.exchange(nullptr);
  if (t == nullptr) return;
  t->parent = forgotten.load();
  forgotten.store(t);
}

void discard(Team *t) {
  {
    std::lock_guard<std::mutex> lock(t->mutex);
    t->stop = true;
  }
  t->wake.notify_all();
  for (std::thread &h : t->helpers) h.join();
  delete t;
}

}  // namespace

void start() {
  if (current.load(std::memory_order_acquire) != nullptr) return;
  const int helpers = blas::threads() - 1;
  if (helpers <= 0) return;
  static std::atomic<bool> registered{false};
  if (!registered.exchange(true)) (void)pthread_atfork(nullptr, nullptr, forget_in_child);
  Team *t = new (std::nothrow) Team;
  if (t == nullptr) return;
  // On the first refusal the team keeps the helpers it has.
  try {
    t->regions = std::vector<Region>(static_cast<size_t>(helpers) + 1);
    t->helpers.reserve(static_cast<size_t>(helpers));
    for (int h = 0; h < helpers; ++h) t->helpers.emplace_back(serve, t, h + 1);
  } catch (const std::system_error &) {
  } catch (const std::bad_alloc &) {
  }
  Team *none = nullptr;
  if (!current.compare_exchange_strong(none, t)) discard(t);  // another thread's won
}

int threads_for(double multiply_adds) {
  constexpr double kParallel = 0x1p21;
  if (!(multiply_adds >= kParallel)) return 1;
  const Team *t = current.load(std::memory_order_acquire);
  return t == nullptr ? 1 : std::min(1 + static_cast<int>(t->helpers.size()), blas::threads());
}

void run(int64_t n, int64_t chunk, int threads, PartRef part) {
  chunk = std::max<int64_t>(chunk, 1);
  Team *t = current.load(std::memory_order_acquire);
  if (threads <= 1 || n <= chunk || t == nullptr || t->helpers.empty() || t->owned.exchange(true)) {
    for (int64_t begin = 0; begin < n; begin += chunk) part(begin, std::min(n, begin + chunk), 0);
    return;
  }
  // Chunk numbers fit the regions' 32-bit halves.
  chunk = std::max(chunk, (n - 1) / 0x7fffffff + 1);
  const int64_t chunks = (n - 1) / chunk + 1;
  t->part = &part;
  t->n = n;
  t->chunk = chunk;
  t->threads = static_cast<int>(
      std::min<int64_t>({threads, chunks, static_cast<int64_t>(t->helpers.size()) + 1}));
  for (int w = 0; w < t->threads; ++w) {
    const auto front = static_cast<uint64_t>(chunks * w / t->threads);
    const auto back = static_cast<uint64_t>(chunks * (w + 1) / t->threads);
    t->regions[static_cast<size_t>(w)].span.store(pack(front, back));
  }
  {
    std::lock_guard<std::mutex> lock(t->mutex);
    t->open.store(++t->round);
  }
  t->wake.notify_all();
  work(*t, 0);
  t->open.store(0);
  {
    std::unique_lock<std::mutex> lock(t->mutex);
    t->idle.wait(lock, [&] { return t->active.load() == 0; });
  }
  t->owned.store(false);
}

}  // namespace att::team
