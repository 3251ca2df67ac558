#include "worker_team.hpp"

#include <algorithm>
#include <new>
#include <system_error>

#include "blas.hpp"

namespace att {

int WorkerTeam::threads_for(int64_t entries) {
  constexpr int64_t kParallelEntries = int64_t{1} << 18;
  return entries >= kParallelEntries ? blas::threads() : 1;
}

WorkerTeam::WorkerTeam(int helpers) {
  // On the first refusal the team keeps the helpers it has.
  try {
    helpers_.reserve(static_cast<size_t>(helpers > 0 ? helpers : 0));
    for (int h = 0; h < helpers; ++h) helpers_.emplace_back(&WorkerTeam::serve, this, h + 1);
  } catch (const std::system_error &) {
  } catch (const std::bad_alloc &) {
  }
}

WorkerTeam::~WorkerTeam() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : helpers_) t.join();
}

void WorkerTeam::run(int64_t n, int64_t chunk, Part part) {
  if (helpers_.empty()) {
    part(0, n, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    part_ = &part;
    n_ = n;
    chunk_ = std::max<int64_t>(chunk, 1);
    next_.store(0);
    busy_ = static_cast<int>(helpers_.size());
    ++round_;
  }
  wake_.notify_all();
  work(0);
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [this] { return busy_ == 0; });
}

// Takes chunks of the current round until none is left. part_, n_ and
// chunk_ do not change while a round runs.
void WorkerTeam::work(int worker) {
  for (;;) {
    const int64_t begin = next_.fetch_add(chunk_);
    if (begin >= n_) return;
    (*part_)(begin, std::min(n_, begin + chunk_), worker);
  }
}

void WorkerTeam::serve(int worker) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || round_ != seen; });
    if (stop_) return;
    seen = round_;
    lock.unlock();
    work(worker);
    lock.lock();
    if (--busy_ == 0) finished_.notify_one();
  }
}

}  // namespace att
