/*
 * White-box test of the process's helper team (src/worker_team.hpp), which
 * init, row recomputations and folds run on: every chunk of a run is handed
 * out exactly once and no longer than asked, worker numbers stay below the
 * threads asked for, the calling thread finishes a run whose helpers are held
 * up, two threads may run at once, and a child process after fork runs
 * without the parent's helpers and may start its own.
 *
 * main() sets OpenBLAS to three threads before the first test starts the
 * team, so that it has two helpers whatever the machine.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
extern "C" {  // cmocka.h does not say so itself
#include <cmocka.h>
}

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "worker_team.hpp"

extern "C" void openblas_set_num_threads(int threads);

namespace {

constexpr int kTeam = 3;  // openblas_set_num_threads in main()

// What one run did: how often each entry was handed out, by which workers,
// and whether a chunk broke the rules.
struct Record {
  explicit Record(int64_t n) : hits(static_cast<size_t>(n)) {}
  std::vector<std::atomic<int>> hits;
  std::atomic<int> by_worker[8] = {};
  std::atomic<bool> bad_chunk{false};
};

// Runs [0, n) in chunks of `chunk` on `threads` threads; true when every
// entry was handed out once, in chunks that start at a multiple of `chunk`
// and are no longer, to workers below min(threads, kTeam).
bool covers(int64_t n, int64_t chunk, int threads, Record &r) {
  att::team::run(n, chunk, threads, [&](int64_t begin, int64_t end, int worker) {
    if (begin % chunk != 0 || end - begin > chunk || end <= begin || worker < 0 ||
        worker >= threads || worker >= kTeam)
      r.bad_chunk = true;
    if (worker >= 0 && worker < 8) ++r.by_worker[worker];
    for (int64_t i = begin; i < end && i < n; ++i) ++r.hits[static_cast<size_t>(i)];
  });
  for (const std::atomic<int> &h : r.hits)
    if (h.load() != 1) return false;
  return !r.bad_chunk.load();
}

void threads_for_follows_the_work(void **) {
  att::team::start();
  assert_int_equal(att::team::threads_for(1000.0), 1);
  assert_int_equal(att::team::threads_for(0x1p20), 1);
  assert_int_equal(att::team::threads_for(0x1p21), kTeam);
  assert_int_equal(att::team::threads_for(1e12), kTeam);
}

void every_chunk_once(void **) {
  att::team::start();
  const int64_t sizes[] = {0, 1, 5, 191, 192, 193, 4096, 10007};
  const int64_t chunks[] = {1, 7, 192};
  const int threads[] = {1, 2, 3, 8};
  for (int64_t n : sizes)
    for (int64_t chunk : chunks)
      for (int t : threads) {
        Record r(n);
        if (!covers(n, chunk, t, r))
          fail_msg("n=%lld chunk=%lld threads=%d", static_cast<long long>(n),
                   static_cast<long long>(chunk), t);
      }
}

// A helper held up inside its first chunk: the caller takes every other
// chunk, its own region's and the helpers', and the run still ends.
void caller_finishes_for_held_helpers(void **) {
  att::team::start();
  const int64_t n = 64;
  for (int round = 0; round < 5; ++round) {
    Record r(n);
    std::atomic<int> held{0};
    att::team::run(n, 1, kTeam, [&](int64_t begin, int64_t, int worker) {
      if (worker != 0 && held.fetch_add(1) < kTeam - 1)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ++r.by_worker[worker];
      ++r.hits[static_cast<size_t>(begin)];
    });
    for (const std::atomic<int> &h : r.hits) assert_int_equal(h.load(), 1);
    assert_true(r.by_worker[0].load() >= n - (kTeam - 1));
  }
}

// Two threads run at once: one owns the team, the other runs alone, and both
// cover their ranges.
void concurrent_runs(void **) {
  att::team::start();
  std::atomic<int> failures{0};
  auto body = [&] {
    for (int rep = 0; rep < 200; ++rep) {
      Record r(1000);
      if (!covers(1000, 10, kTeam, r)) ++failures;
    }
  };
  std::thread a(body), b(body);
  a.join();
  b.join();
  assert_int_equal(failures.load(), 0);
}

#if defined(__SANITIZE_THREAD__)
#define TEAM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEAM_TSAN 1
#endif
#endif

// After fork the child has none of the parent's helpers: a run there must
// not wait for them, and a team of its own may start.
void runs_after_fork(void **) {
#ifdef TEAM_TSAN
  skip();  // ThreadSanitizer does not support threads started after a fork
#else
  att::team::start();
  {
    Record r(500);
    assert_true(covers(500, 5, kTeam, r));
  }
  const pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    alarm(60);  // a run that waited for the parent's helpers would hang
    Record first(500);
    const bool alone = covers(500, 5, kTeam, first) && first.by_worker[0].load() == 100;
    const bool none = att::team::threads_for(1e12) == 1;  // no team in the child yet
    att::team::start();
    Record second(500);
    const bool again = covers(500, 5, kTeam, second);
    _exit(alone && none && again && att::team::threads_for(1e12) == kTeam ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  Record r(500);
  assert_true(covers(500, 5, kTeam, r));
#endif
}

}  // namespace

int main(void) {
  openblas_set_num_threads(kTeam);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(threads_for_follows_the_work),
      cmocka_unit_test(every_chunk_once),
      cmocka_unit_test(caller_finishes_for_held_helpers),
      cmocka_unit_test(concurrent_runs),
      cmocka_unit_test(runs_after_fork),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
