// dynattn-bench: the library against the BLAS-3 floor and three baselines
// written with the same OpenBLAS, on one problem, in one run. Every speed
// figure is printed as a ratio against something measured in the same process
// minutes apart, because the machines it runs on are shared and noisy; the
// absolute times are there for orientation. docs/PERFORMANCE.md explains the
// method; `dynattn-bench --help` lists the options.
#include <dynattn.h>

#include <cblas.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "engines.hpp"
#include "json.hpp"

namespace bench {
namespace {

// ---- the library configurations ---------------------------------------------------

// One row per way of configuring the library that the benchmark can measure.
// The problem's logit scale is set before `fill` runs; `k` is --k. A new
// att_config setter becomes measurable by adding one row here.
struct LibraryConfig {
  const char *name;
  bool uses_k;  // the label shows k: "lazy k=64"
  const char *description;
  ConfigFill fill;
};

const LibraryConfig kLibraryConfigs[] = {
    {"default", false, "att_config_create() defaults (automatic lazy limit)",
     [](att_config *, int64_t) { return ATT_OK; }},
    {"lazy", true, "lazy strategy, fold every k = --k changes (att_config_set_strategy)",
     [](att_config *cfg, int64_t k) {
       const att_status st = att_config_set_lazy_limit(cfg, k);
       return st != ATT_OK ? st : att_config_set_strategy(cfg, ATT_STRATEGY_LAZY);
     }},
    {"lib-eager", false, "eager strategy, fold after every change (att_config_set_strategy)",
     [](att_config *cfg, int64_t) { return att_config_set_strategy(cfg, ATT_STRATEGY_EAGER); }},
    {"streamed", false, "streamed kernel store, A never stored (att_config_set_storage)",
     [](att_config *cfg, int64_t) { return att_config_set_storage(cfg, ATT_STORAGE_STREAMED); }},
};

const char *const kBaselines[] = {"recompute", "eager", "direct"};

const char *baseline_description(const std::string &name) {
  if (name == "recompute")
    return "B recomputed by the first query after an update (QK^T dgemm, exp, AV dgemm)";
  if (name == "eager") return "A, D and C = AV kept exact (column exp + dger; daxpy; O(1) query)";
  return "A and D only (column exp; O(1) update_v; query = ddot over a row of A)";
}

// ---- options -----------------------------------------------------------------------------

struct Mix {
  int64_t updates;
  int64_t queries;
};

struct Options {
  int64_t n = 4096;
  int64_t d = 128;
  int64_t k = 64;
  uint64_t seed = 20261123;
  double scale = 0.0;  // 0: 1/sqrt(d)
  int64_t ops = 2048;
  int64_t queries = 20000;
  int64_t mix_ops = 4000;
  int64_t mix_updates = 0;  // the fewest updates in a mix (derived)
  std::vector<Mix> mixes = {{100, 1}, {10, 1}, {1, 1}, {1, 10}, {1, 100}};
  std::vector<std::string> configs;
  std::vector<std::string> baselines = {"recompute", "eager", "direct"};
  std::string only;
  int64_t recompute_limit = 3;
  int64_t samples = 256;
  int64_t static_reps = 3;
  int64_t floor_reps = 31;
  bool quick = false;
  std::string json;
};

// Folds from one block of the library's background sweep to the next
// (docs/NUMERICS.md, "A background sweep"): a fold of only key or only value
// updates makes one pass over C0, each pass earns n / 4096 rows, and rows
// are recomputed once min(128, n) are due.
int64_t sweep_period(int64_t n) {
  const int64_t block = std::min<int64_t>(128, n);
  return (4096 * block + n - 1) / n;
}

void usage(FILE *out) {
  std::fprintf(out,
               "usage: dynattn-bench [options]\n"
               "\n"
               "Measures dynattn on one problem (Q, K, V with N(0,1) entries from --seed)\n"
               "against the BLAS-3 floor of a key update and three baselines built on the\n"
               "same OpenBLAS, checks a sample of queries of every contender against a\n"
               "static recomputation, and exits 1 on a mismatch.\n"
               "\n"
               "problem\n"
               "  --n N              rows of Q, K, V (default 4096)\n"
               "  --d D              columns (default 128)\n"
               "  --k K              lazy limit of the 'lazy' configuration and of the\n"
               "                     BLAS-3 floor (default 64, the library's default)\n"
               "  --seed S           seed of the data and of every operation (default 20261123)\n"
               "  --scale X          logit scale s (default 1/sqrt(d))\n"
               "workload\n"
               "  --ops N            operations per timed update stream; at least 4k, and\n"
               "                     rounded up to whole folds of k and of the default\n"
               "                     configuration's min(64, n) updates and (except with\n"
               "                     --quick) to whole periods of the library's background\n"
               "                     sweep, ceil(4096 min(128, n) / n) folds (default 2048)\n"
               "  --queries N        queries in the timed query stream (default 20000)\n"
               "  --mix-ops N        operations per mixed workload, and at least 8k\n"
               "                     updates and (except with --quick) as many as a timed\n"
               "                     update stream holds (default 4000)\n"
               "  --mixes LIST       updates:queries ratios, e.g. 100:1,1:1,1:100, or none\n"
               "                     (default 100:1,10:1,1:1,1:10,1:100); each mix runs on\n"
               "                     every contender in turn, so all of them stay in memory\n"
               "  --recompute-limit R  full recomputations the recompute baseline may run\n"
               "                     per mix; its mixes stop there (default 3)\n"
               "contenders\n"
               "  --config NAME      a library configuration; repeat for several (default:\n"
               "                     default). --list shows the table\n"
               "  --baseline LIST    recompute,eager,direct (default all), or none\n"
               "  --only NAME        run this one configuration or baseline and nothing\n"
               "                     else, so that the peak RSS is its own\n"
               "measurement\n"
               "  --samples N        queries checked per contender (default 256, at least 64)\n"
               "  --static-reps N    repetitions of the static recomputation (default 3;\n"
               "                     0 skips it and the init ratio)\n"
               "  --floor-reps N     repetitions of the floor's dgemm (default 31)\n"
               "  --quick            a seconds-long smoke run: short streams and mixes\n"
               "  --json FILE        write every figure to FILE as JSON\n"
               "  --list             list the library configurations and baselines\n"
               "  --help\n");
}

[[noreturn]] void bad_usage(const std::string &message) {
  std::fprintf(stderr, "dynattn-bench: %s\n", message.c_str());
  usage(stderr);
  std::exit(2);
}

int64_t parse_int(const std::string &flag, const std::string &text, int64_t lo, int64_t hi) {
  char *end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    bad_usage(flag + " needs an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], not \"" + text + "\"");
  return v;
}

double parse_double(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v <= 0.0)
    bad_usage(flag + " needs a positive number, not \"" + text + "\"");
  return v;
}

std::vector<std::string> split(const std::string &text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::vector<Mix> parse_mixes(const std::string &text) {
  std::vector<Mix> mixes;
  if (text == "none") return mixes;
  for (const std::string &part : split(text, ',')) {
    const std::vector<std::string> uq = split(part, ':');
    if (uq.size() != 2) bad_usage("--mixes needs updates:queries pairs, not \"" + part + "\"");
    mixes.push_back(
        {parse_int("--mixes", uq[0], 1, 1000000), parse_int("--mixes", uq[1], 1, 1000000)});
  }
  return mixes;
}

const LibraryConfig *find_config(const std::string &name) {
  for (const LibraryConfig &c : kLibraryConfigs)
    if (name == c.name) return &c;
  return nullptr;
}

bool is_baseline(const std::string &name) {
  for (const char *b : kBaselines)
    if (name == b) return true;
  return false;
}

void list_contenders() {
  std::printf("library configurations (--config NAME):\n");
  for (const LibraryConfig &c : kLibraryConfigs) std::printf("  %-10s %s\n", c.name, c.description);
  std::printf("baselines (--baseline NAME,...):\n");
  for (const char *b : kBaselines) std::printf("  %-10s %s\n", b, baseline_description(b));
}

Options parse_options(int argc, char **argv) {
  Options o;
  std::vector<std::pair<std::string, std::string>> args;
  const char *const flags_without_value[] = {"--quick", "--list", "--help", "-h"};
  const char *const flags_with_value[] = {
      "--n",       "--d",           "--k",          "--seed",  "--scale",
      "--ops",     "--queries",     "--mix-ops",    "--mixes", "--recompute-limit",
      "--samples", "--static-reps", "--floor-reps", "--json",  "--only",
      "--config",  "--baseline"};
  for (int a = 1; a < argc; ++a) {
    std::string flag = argv[a], value;
    const size_t eq = flag.find('=');
    bool needs_value = true;
    for (const char *f : flags_without_value)
      if (flag == f) needs_value = false;
    if (!needs_value) {
      args.emplace_back(flag, "");
      continue;
    }
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    bool known = false;
    for (const char *f : flags_with_value)
      if (flag == f) known = true;
    if (!known) bad_usage("unknown option " + flag);
    if (eq == std::string::npos) {
      if (a + 1 >= argc) bad_usage(flag + " needs a value");
      value = argv[++a];
    }
    args.emplace_back(flag, value);
  }
  // --quick sets smaller defaults that any explicit option still overrides.
  for (const auto &[flag, value] : args) {
    if (flag == "--quick") {
      o.quick = true;
      o.ops = 256;
      o.queries = 2000;
      o.mix_ops = 400;
      o.recompute_limit = 1;
      o.static_reps = 1;
      o.floor_reps = 5;
      o.samples = 64;
    }
  }
  bool configs_given = false;
  for (const auto &[flag, value] : args) {
    if (flag == "--quick") continue;
    if (flag == "--help" || flag == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (flag == "--list") {
      list_contenders();
      std::exit(0);
    }
    if (flag == "--n")
      o.n = parse_int(flag, value, 1, 1 << 20);
    else if (flag == "--d")
      o.d = parse_int(flag, value, 1, 1 << 16);
    else if (flag == "--k")
      o.k = parse_int(flag, value, 1, 1 << 20);
    else if (flag == "--seed")
      o.seed = static_cast<uint64_t>(parse_int(flag, value, 0, INT64_MAX));
    else if (flag == "--scale")
      o.scale = parse_double(flag, value);
    else if (flag == "--ops")
      o.ops = parse_int(flag, value, 1, 100000000);
    else if (flag == "--queries")
      o.queries = parse_int(flag, value, 1, 100000000);
    else if (flag == "--mix-ops")
      o.mix_ops = parse_int(flag, value, 1, 100000000);
    else if (flag == "--mixes")
      o.mixes = parse_mixes(value);
    else if (flag == "--recompute-limit")
      o.recompute_limit = parse_int(flag, value, 1, 1000000);
    else if (flag == "--samples")
      o.samples = parse_int(flag, value, 64, 10000000);
    else if (flag == "--static-reps")
      o.static_reps = parse_int(flag, value, 0, 1000);
    else if (flag == "--floor-reps")
      o.floor_reps = parse_int(flag, value, 1, 100000);
    else if (flag == "--json")
      o.json = value;
    else if (flag == "--only")
      o.only = value;
    else if (flag == "--config") {
      if (!find_config(value)) bad_usage("unknown configuration \"" + value + "\" (see --list)");
      if (!configs_given) o.configs.clear();
      configs_given = true;
      if (std::find(o.configs.begin(), o.configs.end(), value) == o.configs.end())
        o.configs.push_back(value);
    } else if (flag == "--baseline") {
      o.baselines.clear();
      if (value != "none") {
        for (const std::string &b : split(value, ',')) {
          if (!is_baseline(b)) bad_usage("unknown baseline \"" + b + "\" (see --list)");
          o.baselines.push_back(b);
        }
      }
    } else {
      bad_usage("unknown option " + flag);
    }
  }
  if (!configs_given) o.configs = {"default"};
  if (!o.only.empty()) {
    o.configs.clear();
    o.baselines.clear();
    if (find_config(o.only))
      o.configs.push_back(o.only);
    else if (is_baseline(o.only))
      o.baselines.push_back(o.only);
    else
      bad_usage("unknown configuration or baseline \"" + o.only + "\" (see --list)");
  }
  if (o.scale == 0.0) o.scale = 1.0 / std::sqrt(static_cast<double>(o.d));
  // Whole folds in every timed stream, and several of them; outside --quick,
  // whole periods of the library's background sweep too, so that the
  // amortized figures carry its share (a sweep is the costliest thing a
  // fold does, and at n = 4096 there is one every 128 folds).
  // The default configuration folds every min(64, n) updates whatever --k.
  o.ops = std::max(o.ops, 4 * o.k);
  const int64_t folds_of = std::lcm(o.k, std::min<int64_t>(64, o.n));
  const int64_t unit = folds_of * (o.quick ? 1 : sweep_period(o.n));
  o.ops = (o.ops + unit - 1) / unit * unit;
  // A mix holds as many updates, so that blocks of the sweep fall into every
  // contender's run of it at about their long-run rate, rather than one
  // block (milliseconds) into one contender's run and none into another's.
  o.mix_updates = std::max(8 * o.k, o.quick ? int64_t{0} : unit);
  return o;
}

// ---- the workload ----------------------------------------------------------------------

enum class OpKind : unsigned char { update_k, update_v, query };

struct Op {
  OpKind kind;
  int64_t row;
  int64_t col;
  double delta;
};

using OpList = std::vector<Op>;

// Key deltas move a logit by about s * 0.25 * |Q[i,j]|; value deltas are half
// a standard deviation of V.
Op random_op(Rng &rng, OpKind kind, int64_t n, int64_t d) {
  Op op{kind, rng.index(n), rng.index(d), 0.0};
  if (kind == OpKind::update_k) op.delta = 0.25 * rng.normal();
  if (kind == OpKind::update_v) op.delta = 0.5 * rng.normal();
  return op;
}

OpKind random_update(Rng &rng) { return (rng.next() & 1) ? OpKind::update_k : OpKind::update_v; }

OpList stream(Rng &rng, OpKind kind, int64_t count, int64_t n, int64_t d) {
  OpList ops;
  ops.reserve(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) ops.push_back(random_op(rng, kind, n, d));
  return ops;
}

// Whole blocks of `updates` updates (key or value at random) then `queries`
// queries: at least `total` operations and at least `min_updates` updates
// (Options::mix_updates), so that every contender folds many times inside
// the mix and pending work carried in from the previous mix weighs little.
OpList mixed(Rng &rng, const Mix &mix, int64_t total, int64_t min_updates, int64_t n, int64_t d) {
  OpList ops;
  const int64_t blocks = (min_updates + mix.updates - 1) / mix.updates;
  total = std::max(total, blocks * (mix.updates + mix.queries));
  while (static_cast<int64_t>(ops.size()) < total) {
    for (int64_t u = 0; u < mix.updates; ++u)
      ops.push_back(random_op(rng, random_update(rng), n, d));
    for (int64_t q = 0; q < mix.queries; ++q) ops.push_back(random_op(rng, OpKind::query, n, d));
  }
  return ops;
}

// Every contender runs exactly this sequence from the same initial problem, so
// all of them end in the same state and one static recomputation checks them
// all.
struct Session {
  OpList warmup;
  OpList update_k, update_k_latency;
  OpList update_v, update_v_latency;
  OpList prep;  // leaves about k/2 pending key and value terms for the queries
  OpList queries;
  std::vector<OpList> mixes;
  OpList check;
};

Session make_session(const Options &o, Rng &rng) {
  Session s;
  const int64_t n = o.n, d = o.d;
  for (int64_t t = 0; t < 2 * o.k + 64; ++t)
    s.warmup.push_back(random_op(rng, random_update(rng), n, d));
  for (int64_t t = 0; t < 256; ++t) s.warmup.push_back(random_op(rng, OpKind::query, n, d));
  s.update_k = stream(rng, OpKind::update_k, o.ops, n, d);
  s.update_k_latency = stream(rng, OpKind::update_k, o.ops, n, d);
  s.update_v = stream(rng, OpKind::update_v, o.ops, n, d);
  s.update_v_latency = stream(rng, OpKind::update_v, o.ops, n, d);
  for (int64_t t = 0; t < o.k / 2; ++t) {
    s.prep.push_back(random_op(rng, OpKind::update_k, n, d));
    s.prep.push_back(random_op(rng, OpKind::update_v, n, d));
  }
  s.queries = stream(rng, OpKind::query, o.queries, n, d);
  for (const Mix &m : o.mixes) s.mixes.push_back(mixed(rng, m, o.mix_ops, o.mix_updates, n, d));
  s.check = stream(rng, OpKind::query, o.samples, n, d);
  return s;
}

void apply_to_problem(Problem &p, const OpList &ops) {
  for (const Op &op : ops) {
    const size_t at = static_cast<size_t>(op.row * p.d + op.col);
    if (op.kind == OpKind::update_k) p.K[at] += op.delta;
    if (op.kind == OpKind::update_v) p.V[at] += op.delta;
  }
}

// ---- running a contender -------------------------------------------------------------

double run_ops(Engine &e, const OpList &ops, size_t begin, size_t end, bool with_queries) {
  double acc = 0.0;
  for (size_t t = begin; t < end; ++t) {
    const Op &op = ops[t];
    switch (op.kind) {
      case OpKind::update_k: e.update_k(op.row, op.col, op.delta); break;
      case OpKind::update_v: e.update_v(op.row, op.col, op.delta); break;
      case OpKind::query:
        if (with_queries) acc += e.query(op.row, op.col);
        break;
    }
  }
  return acc;
}

volatile double g_sink = 0.0;  // keeps timed queries from being optimized away

// Wall time of the whole list (seconds).
double time_ops(Engine &e, const OpList &ops, size_t begin, size_t end) {
  const Clock::time_point t0 = Clock::now();
  const double acc = run_ops(e, ops, begin, end, true);
  const Clock::time_point t1 = Clock::now();
  g_sink = acc;
  return seconds_between(t0, t1);
}

// Each operation timed alone.
Summary time_each(Engine &e, const OpList &ops) {
  std::vector<double> samples;
  samples.reserve(ops.size());
  double acc = 0.0;
  for (size_t t = 0; t < ops.size(); ++t) {
    const Clock::time_point t0 = Clock::now();
    acc += run_ops(e, ops, t, t + 1, true);
    const Clock::time_point t1 = Clock::now();
    samples.push_back(seconds_between(t0, t1));
  }
  g_sink = acc;
  return summarize(samples);
}

// The shortest prefix of whole update/query blocks in which at most `limit`
// queries follow an update (each such query costs the recompute baseline a full
// recomputation).
size_t recompute_prefix(const OpList &ops, int64_t limit) {
  bool stale = false;
  int64_t recomputes = 0;
  for (size_t t = 0; t < ops.size(); ++t) {
    if (ops[t].kind != OpKind::query) {
      if (recomputes == limit) return t;  // t starts a new block
      stale = true;
    } else if (stale) {
      stale = false;
      ++recomputes;
    }
  }
  return ops.size();
}

int64_t resident_bytes() {
  std::FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : -1;
}

struct StreamResult {
  int64_t ops = 0;
  double amortized = NAN;        // total wall time / ops, folds included
  int64_t rows_recomputed = -1;  // by the library during the amortized stream
  Summary latency;               // each operation timed alone
};

// The stream timed as a whole, with the rows the library recomputed in it.
void time_stream(Engine &e, const OpList &ops, StreamResult &r) {
  const int64_t rows_before = e.rows_recomputed();
  r.ops = static_cast<int64_t>(ops.size());
  r.amortized = time_ops(e, ops, 0, ops.size()) / static_cast<double>(r.ops);
  if (rows_before >= 0) r.rows_recomputed = e.rows_recomputed() - rows_before;
}

struct MixResult {
  Mix mix{0, 0};
  int64_t ops = 0;        // operations in the workload
  int64_t ops_timed = 0;  // fewer for the recompute baseline (--recompute-limit)
  double per_op = NAN;
};

struct ContenderResult {
  std::string name, kind, description;
  bool deferred = false;  // recompute: updates only mark B stale, so no stream figures
  double init = NAN;
  int64_t resident_growth = -1;
  StreamResult update_k, update_v, query;
  double query_batched = NAN;
  int64_t query_batch = 0;
  std::vector<MixResult> mixes;
  std::vector<double> answers;
  double max_error = NAN;
  bool passed = false;
};

using Factory = std::function<std::unique_ptr<Engine>()>;

// A contender's engine, alive from its init to its last mix.
struct Contender {
  ContenderResult result;
  std::unique_ptr<Engine> engine;
};

// Init and the streams of one contender; its mixes come later
// (run_mix), interleaved with the other contenders'.
Contender start_contender(const std::string &name, const std::string &kind,
                          const std::string &description, const Factory &make, const Session &s) {
  Contender c;
  ContenderResult &r = c.result;
  r.name = name;
  r.kind = kind;
  r.description = description;
  r.deferred = name == "recompute";

  const int64_t before = resident_bytes();
  const Clock::time_point t0 = Clock::now();
  c.engine = make();
  const Clock::time_point t1 = Clock::now();
  const int64_t after = resident_bytes();
  r.init = seconds_between(t0, t1);
  if (before >= 0 && after >= 0) r.resident_growth = after - before;
  Engine &e = *c.engine;

  const OpList *untimed[] = {&s.warmup,   &s.update_k,         &s.update_k_latency,
                             &s.update_v, &s.update_v_latency, &s.prep};
  if (r.deferred) {
    for (const OpList *ops : untimed) run_ops(e, *ops, 0, ops->size(), false);
  } else {
    run_ops(e, s.warmup, 0, s.warmup.size(), true);
    time_stream(e, s.update_k, r.update_k);
    r.update_k.latency = time_each(e, s.update_k_latency);
    time_stream(e, s.update_v, r.update_v);
    r.update_v.latency = time_each(e, s.update_v_latency);
    run_ops(e, s.prep, 0, s.prep.size(), true);
    time_stream(e, s.queries, r.query);
    r.query.latency = time_each(e, s.queries);
    // Batches of 1000 queries, timed together: no timer overhead per query.
    r.query_batch = std::min<int64_t>(1000, r.query.ops);
    std::vector<double> batches;
    for (size_t b = 0; b + static_cast<size_t>(r.query_batch) <= s.queries.size();
         b += static_cast<size_t>(r.query_batch))
      batches.push_back(time_ops(e, s.queries, b, b + static_cast<size_t>(r.query_batch)) /
                        static_cast<double>(r.query_batch));
    r.query_batched = median_of(batches);
  }
  return c;
}

// Mix m on one contender.
void run_mix(Contender &c, const Session &s, const Options &o, size_t m) {
  const OpList &ops = s.mixes[m];
  MixResult mr;
  mr.mix = o.mixes[m];
  mr.ops = static_cast<int64_t>(ops.size());
  const size_t timed = c.result.deferred ? recompute_prefix(ops, o.recompute_limit) : ops.size();
  mr.ops_timed = static_cast<int64_t>(timed);
  mr.per_op = time_ops(*c.engine, ops, 0, timed) / static_cast<double>(timed);
  run_ops(*c.engine, ops, timed, ops.size(),
          false);  // the rest of the updates, so the state agrees
  c.result.mixes.push_back(mr);
}

// The checked queries on a contender that has run everything; its engine ends.
ContenderResult finish_contender(Contender &c, const Session &s) {
  for (const Op &op : s.check) c.result.answers.push_back(c.engine->query(op.row, op.col));
  c.engine.reset();
  return std::move(c.result);
}

// ---- the BLAS-3 floor and the static recomputation ---------------------------------

struct FloorResult {
  double gemm = NAN;  // C(n x d) += A(n x k) B(k x d), seconds
  double gemm_gflops = NAN;
  // A column of n exponentials: its median time and its largest error in
  // ulps (NAN where the routine is missing).
  struct ExpColumn {
    double time = NAN, ulp = NAN;
  };
  ExpColumn exp;            // the library's kernel
  ExpColumn sleef;          // the same with SLEEF
  ExpColumn libmvec;        // with glibc's libmvec
  ExpColumn scalar;         // and with glibc's scalar exp
  double per_update = NAN;  // gemm / k + exp.time
};

FloorResult measure_floor(const Options &o, Rng &rng) {
  FloorResult f;
  const int64_t n = o.n, d = o.d, k = o.k;
  std::vector<double> A(static_cast<size_t>(n * k)), B(static_cast<size_t>(k * d)),
      C(static_cast<size_t>(n * d), 0.0);
  for (double &x : A) x = rng.uniform();
  for (double &x : B) x = rng.normal();
  std::vector<double> samples;
  for (int64_t rep = -2; rep < o.floor_reps; ++rep) {  // two warm-up runs
    const Clock::time_point t0 = Clock::now();
    // Column-major, as the library folds: C0 += pending dA columns x stacked rows of V.
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(d),
                static_cast<int>(k), 1.0, A.data(), static_cast<int>(n), B.data(),
                static_cast<int>(k), 1.0, C.data(), static_cast<int>(n));
    const Clock::time_point t1 = Clock::now();
    if (rep >= 0) samples.push_back(seconds_between(t0, t1));
  }
  g_sink = C[0];
  f.gemm = median_of(samples);
  f.gemm_gflops = 2.0 * static_cast<double>(n) * static_cast<double>(d) * static_cast<double>(k) /
                  f.gemm * 1e-9;

  // Arguments like the shifted logits of a column: at most 0, mostly near it.
  std::vector<double> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (double &v : x) v = -std::fabs(3.0 * rng.normal());
  const int exp_reps = o.quick ? 21 : 501;
  const struct {
    void (*exp)(const double *, double *, size_t);
    FloorResult::ExpColumn *column;
  } passes[] = {{exp_clamped, &f.exp},
                {sleef_exp().exp, &f.sleef},
                {libmvec_exp().exp, &f.libmvec},
                {exp_clamped_scalar, &f.scalar}};
  for (const auto &pass : passes) {
    if (pass.exp == nullptr) continue;
    samples.clear();
    for (int rep = -5; rep < exp_reps; ++rep) {
      const Clock::time_point t0 = Clock::now();
      pass.exp(x.data(), y.data(), x.size());
      const Clock::time_point t1 = Clock::now();
      g_sink = y[0];
      if (rep >= 0) samples.push_back(seconds_between(t0, t1));
    }
    *pass.column = {median_of(samples), worst_exp_error(x.data(), y.data(), x.size())};
  }
  f.per_update = f.gemm / static_cast<double>(k) + f.exp.time;
  return f;
}

struct StaticResult {
  double fresh = NAN;  // allocation of the n x n scratch included, as att_init must
  double warm = NAN;   // scratch reused
};

StaticResult measure_static(const Problem &p, int64_t reps) {
  StaticResult r;
  std::vector<double> B(static_cast<size_t>(p.n * p.d));
  std::vector<double> fresh, warm;
  for (int64_t rep = 0; rep < reps; ++rep) {
    const Clock::time_point t0 = Clock::now();
    StaticAttention scratch(p.n, p.d);
    scratch.compute(p, p.Q.data(), p.K.data(), p.V.data(), B.data());
    const Clock::time_point t1 = Clock::now();
    scratch.compute(p, p.Q.data(), p.K.data(), p.V.data(), B.data());
    const Clock::time_point t2 = Clock::now();
    fresh.push_back(seconds_between(t0, t1));
    warm.push_back(seconds_between(t1, t2));
  }
  g_sink = B[0];
  r.fresh = median_of(fresh);
  r.warm = median_of(warm);
  return r;
}

double timer_overhead() {
  std::vector<double> samples;
  for (int t = 0; t < 1001; ++t) {
    const Clock::time_point t0 = Clock::now();
    const Clock::time_point t1 = Clock::now();
    samples.push_back(seconds_between(t0, t1));
  }
  return median_of(samples);
}

// ---- the machine ---------------------------------------------------------------------------

// What /proc/cpuinfo says of the first CPU: its model name, and its family
// and model numbers, which tell apart generations of one brand name (AMD
// EPYC: family 25 is Zen 3 and Zen 4, 26 is Zen 5). -1 where unknown.
struct CpuInfo {
  std::string name = "unknown";
  int family = -1, model = -1;
};

CpuInfo cpu_info() {
  CpuInfo info;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line) && !line.empty()) {  // the first CPU's block
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const size_t start = line.find_first_not_of(' ', colon + 1);
    const std::string value = start == std::string::npos ? std::string() : line.substr(start);
    if (key == "model name") {
      info.name = value;
    } else if (key == "cpu family") {
      info.family = std::atoi(value.c_str());
    } else if (key == "model") {
      info.model = std::atoi(value.c_str());
    }
  }
  return info;
}

// sysconf's size of a cache level (_SC_LEVEL2_CACHE_SIZE, ...), or -1 when
// the C library does not know it.
long cache_bytes(int name) {
  const long bytes = sysconf(name);
  return bytes > 0 ? bytes : -1;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// ---- reporting -----------------------------------------------------------------------------

double us(double seconds) { return seconds * 1e6; }
double ms(double seconds) { return seconds * 1e3; }
double mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

const ContenderResult *find_result(const std::vector<ContenderResult> &all,
                                   const std::string &name) {
  for (const ContenderResult &r : all)
    if (r.name == name) return &r;
  return nullptr;
}

// Fastest baseline on mix m, or nullptr when no baseline ran.
const ContenderResult *best_baseline(const std::vector<ContenderResult> &all, size_t m) {
  const ContenderResult *best = nullptr;
  for (const ContenderResult &r : all)
    if (r.kind == "baseline" && (!best || r.mixes[m].per_op < best->mixes[m].per_op)) best = &r;
  return best;
}

// The environment variables that configure OpenBLAS, sorted, as
// "NAME=value" separated by spaces.
std::string blas_environment() {
  std::vector<std::string> found;
  for (char **e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "OPENBLAS_", 9) == 0) found.emplace_back(*e);
  std::sort(found.begin(), found.end());
  std::string out;
  for (const std::string &v : found) out += (out.empty() ? "" : " ") + v;
  return out;
}

struct Context {
  Options options;
  CpuInfo cpu;
  long l2_bytes = -1, l3_bytes = -1;  // per core and in all, as sysconf reports them
  long cpus = 0;
  std::string blas_config;
  int blas_threads = 0;
  // OpenBLAS's environment variables as the run found them ("NAME=value"
  // separated by spaces; empty when none is set): OPENBLAS_THREAD_TIMEOUT,
  // for one, changes what its idle threads do between calls.
  std::string blas_env;
  double timer = NAN;
  // The CPU the main thread ran on when the run started and ended (-1 when
  // unknown): the vCPUs of a shared machine need not be equal, and the
  // single-threaded part of an update runs on this one.
  int main_cpu_start = -1, main_cpu_end = -1;
  FloorResult floor;
  bool have_static = false;
  StaticResult static_time;
  std::vector<ContenderResult> results;
  double tolerance = 1e-9;
  int64_t peak_rss = -1;
  bool passed = true;
};

void print_report(const Context &c) {
  const Options &o = c.options;
  std::printf(
      "dynattn-bench, library %s: n = %lld, d = %lld, k = %lld, logit scale %.6g, seed %llu%s\n",
      att_version_string(), static_cast<long long>(o.n), static_cast<long long>(o.d),
      static_cast<long long>(o.k), o.scale, static_cast<unsigned long long>(o.seed),
      o.quick ? " (quick)" : "");
  const auto kib = [](long bytes) {
    return bytes < 0 ? std::string("?") : std::to_string(bytes / 1024) + " KiB";
  };
  std::printf(
      "machine: %s (family %d, model %d; L2 %s, L3 %s), %ld CPUs; BLAS: %s, "
      "%d threads%s%s; timer overhead %.0f ns\n",
      c.cpu.name.c_str(), c.cpu.family, c.cpu.model, kib(c.l2_bytes).c_str(),
      kib(c.l3_bytes).c_str(), c.cpus, c.blas_config.c_str(), c.blas_threads,
      c.blas_env.empty() ? "" : ", environment ", c.blas_env.c_str(), c.timer * 1e9);
  std::printf("main thread on cpu %d at the start, cpu %d at the end\n", c.main_cpu_start,
              c.main_cpu_end);

  const FloorResult &f = c.floor;
  std::printf("\nBLAS-3 floor of one key update (k = %lld):\n", static_cast<long long>(o.k));
  std::printf(
      "  dgemm %lld x %lld x %lld              %10.2f us (%.1f GFLOP/s) -> %.2f us per update\n",
      static_cast<long long>(o.n), static_cast<long long>(o.d), static_cast<long long>(o.k),
      us(f.gemm), f.gemm_gflops, us(f.gemm) / static_cast<double>(o.k));
  std::printf("  column of %lld exponentials      %10.2f us (%s)\n", static_cast<long long>(o.n),
              us(f.exp.time), exp_kernel_name());
  std::printf("    for orientation (time, worst error over the column):");
  std::printf(" dynattn %.2f ulp;", f.exp.ulp);
  for (const auto &[routine, column] :
       {std::pair{sleef_exp(), f.sleef}, std::pair{libmvec_exp(), f.libmvec}})
    if (routine.name != nullptr)
      std::printf(" %s %.2f us, %.2f ulp;", routine.name, us(column.time), column.ulp);
  std::printf(" glibc scalar exp %.2f us, %.2f ulp\n", us(f.scalar.time), f.scalar.ulp);
  std::printf("  floor = dgemm / k + exp column   %10.2f us\n", us(f.per_update));
  if (c.have_static)
    std::printf("static recomputation of B: %.2f ms with allocation, %.2f ms reusing buffers\n",
                ms(c.static_time.fresh), ms(c.static_time.warm));

  std::printf("\n%-12s %10s %10s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "contender", "init ms",
              "RSS+ MiB", "upd_k am", "upd_k md", "upd_k 99", "upd_v am", "upd_v md", "upd_v 99",
              "query md", "query 99", "query bt");
  std::printf("%-12s %10s %10s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "", "us", "us", "us",
              "us", "us", "us", "us", "us", "us");
  for (const ContenderResult &r : c.results) {
    std::printf("%-12s %10.2f %10.1f", r.name.c_str(), ms(r.init), mib(r.resident_growth));
    if (r.deferred) {
      std::printf("   (updates only mark B stale; see the mixes)\n");
      continue;
    }
    std::printf(" %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n",
                us(r.update_k.amortized), us(r.update_k.latency.median), us(r.update_k.latency.p99),
                us(r.update_v.amortized), us(r.update_v.latency.median), us(r.update_v.latency.p99),
                us(r.query.latency.median), us(r.query.latency.p99), us(r.query_batched));
  }
  std::printf(
      "  am = amortized over the stream (folds included), md = median, 99 = p99 of single\n"
      "  timed calls (timer overhead included), bt = average over batches of %lld queries\n",
      static_cast<long long>(c.results.empty() ? 0 : c.results.front().query_batch));

  const ContenderResult *eager = find_result(c.results, "eager");
  for (const ContenderResult &r : c.results) {
    if (r.kind != "library") continue;
    std::printf("\n[%s] %s\n", r.name.c_str(), r.description.c_str());
    if (c.have_static)
      std::printf(
          "  init:               %9.2f ms = %.2f x static recomputation (%.2f x without its "
          "allocation)\n",
          ms(r.init), r.init / c.static_time.fresh, r.init / c.static_time.warm);
    std::printf("  update_k amortized: %9.3f us = %.2f x floor", us(r.update_k.amortized),
                r.update_k.amortized / f.per_update);
    if (eager)
      std::printf(", %.3f x eager (eager %.3f us, %.2f x this)",
                  r.update_k.amortized / eager->update_k.amortized, us(eager->update_k.amortized),
                  eager->update_k.amortized / r.update_k.amortized);
    std::printf("\n  update_v amortized: %9.3f us = %.3f x update_k amortized\n",
                us(r.update_v.amortized), r.update_v.amortized / r.update_k.amortized);
    std::printf(
        "  rows recomputed in the timed streams: %lld of update_k's %lld updates, "
        "%lld of update_v's %lld;\n  slowest single call: update_k %.3f ms, update_v %.3f ms\n",
        static_cast<long long>(r.update_k.rows_recomputed), static_cast<long long>(r.update_k.ops),
        static_cast<long long>(r.update_v.rows_recomputed), static_cast<long long>(r.update_v.ops),
        1e3 * r.update_k.latency.max, 1e3 * r.update_v.latency.max);
    std::printf("  query:              %9.3f us median single call, %.3f us batched\n",
                us(r.query.latency.median), us(r.query_batched));
  }

  if (!o.mixes.empty() && !c.results.empty()) {
    std::printf("\nmixed workloads, time per operation in us (updates:queries)\n%-10s", "mix");
    for (const ContenderResult &r : c.results) std::printf(" %12s", r.name.c_str());
    for (const ContenderResult &r : c.results)
      if (r.kind == "library") std::printf("  %s/best baseline", r.name.c_str());
    std::printf("\n");
    for (size_t m = 0; m < o.mixes.size(); ++m) {
      char label[32];
      std::snprintf(label, sizeof label, "%lld:%lld", static_cast<long long>(o.mixes[m].updates),
                    static_cast<long long>(o.mixes[m].queries));
      std::printf("%-10s", label);
      for (const ContenderResult &r : c.results) std::printf(" %12.3f", us(r.mixes[m].per_op));
      const ContenderResult *best = best_baseline(c.results, m);
      for (const ContenderResult &r : c.results)
        if (r.kind == "library") {
          if (best)
            std::printf("  %.3f (%s)", r.mixes[m].per_op / best->mixes[m].per_op,
                        best->name.c_str());
          else
            std::printf("  -");
        }
      std::printf("\n");
    }
    if (const ContenderResult *rc = find_result(c.results, "recompute")) {
      std::printf("  recompute timed the first");
      for (const MixResult &mr : rc->mixes)
        std::printf(" %lld", static_cast<long long>(mr.ops_timed));
      std::printf(" operations of each mix (at most %lld recomputations each)\n",
                  static_cast<long long>(o.recompute_limit));
    }
  }

  std::printf(
      "\ncorrectness: %lld queries per contender against a static recomputation, limit %.0e * "
      "max|V[:,j]|\n",
      static_cast<long long>(o.samples), c.tolerance);
  for (const ContenderResult &r : c.results)
    std::printf("  %-12s max error %.2e  %s\n", r.name.c_str(), r.max_error,
                r.passed ? "ok" : "MISMATCH");
  std::printf("peak RSS of the process: %.1f MiB%s\n", mib(c.peak_rss),
              o.only.empty() ? " (all contenders; use --only NAME for one)" : "");
  std::printf("%s\n", c.passed ? "PASS" : "FAIL");
}

void write_summary(JsonWriter &j, const char *key, const Summary &s) {
  j.begin_object(key);
  j.number("median_s", s.median);
  j.number("p99_s", s.p99);
  j.number("mean_s", s.mean);
  j.number("min_s", s.min);
  j.number("max_s", s.max);
  j.integer("count", static_cast<int64_t>(s.count));
  j.end_object();
}

void write_stream(JsonWriter &j, const char *key, const StreamResult &s) {
  j.begin_object(key);
  j.integer("ops", s.ops);
  j.number("amortized_s", s.amortized);
  if (s.rows_recomputed >= 0) j.integer("rows_recomputed", s.rows_recomputed);
  write_summary(j, "latency", s.latency);
  j.end_object();
}

std::string write_json(const Context &c) {
  const Options &o = c.options;
  JsonWriter j;
  j.begin_object();
  j.string("program", "dynattn-bench");
  j.integer("schema", 1);
  j.string("date", utc_now());
  j.boolean("passed", c.passed);

  j.begin_object("machine");
  j.string("cpu", c.cpu.name);
  j.integer("cpu_family", c.cpu.family);
  j.integer("cpu_model", c.cpu.model);
  j.integer("l2_cache_bytes", c.l2_bytes);
  j.integer("l3_cache_bytes", c.l3_bytes);
  j.integer("cpus", c.cpus);
  j.string("blas_config", c.blas_config);
  j.integer("blas_threads", c.blas_threads);
  j.string("blas_env", c.blas_env);
  j.string("compiler", __VERSION__);
  j.number("timer_overhead_s", c.timer);
  j.integer("main_cpu_start", c.main_cpu_start);
  j.integer("main_cpu_end", c.main_cpu_end);
  j.integer("peak_rss_bytes", c.peak_rss);
  j.end_object();

  j.begin_object("library");
  j.string("version", att_version_string());
  j.integer("version_number", att_version_number());
  j.end_object();

  j.begin_object("params");
  j.integer("n", o.n);
  j.integer("d", o.d);
  j.integer("k", o.k);
  j.integer("seed", static_cast<int64_t>(o.seed));
  j.number("scale", o.scale);
  j.integer("ops", o.ops);
  j.integer("queries", o.queries);
  j.integer("mix_ops", o.mix_ops);
  j.integer("recompute_limit", o.recompute_limit);
  j.integer("samples", o.samples);
  j.boolean("quick", o.quick);
  j.string("only", o.only);
  j.end_object();

  j.begin_object("floor");
  j.number("gemm_s", c.floor.gemm);
  j.number("gemm_gflops", c.floor.gemm_gflops);
  j.number("gemm_per_update_s", c.floor.gemm / static_cast<double>(o.k));
  j.number("exp_column_s", c.floor.exp.time);
  j.string("exp_kind", exp_kernel_name());
  j.number("exp_column_sleef_s", c.floor.sleef.time);
  if (sleef_exp().name != nullptr) j.string("exp_sleef_kind", sleef_exp().name);
  j.number("exp_column_libmvec_s", c.floor.libmvec.time);
  if (libmvec_exp().name != nullptr) j.string("exp_libmvec_kind", libmvec_exp().name);
  j.number("exp_column_scalar_s", c.floor.scalar.time);
  j.number("exp_ulp", c.floor.exp.ulp);
  j.number("exp_ulp_sleef", c.floor.sleef.ulp);
  j.number("exp_ulp_libmvec", c.floor.libmvec.ulp);
  j.number("exp_ulp_scalar", c.floor.scalar.ulp);
  j.number("per_update_s", c.floor.per_update);
  j.end_object();

  j.begin_object("static");
  j.boolean("measured", c.have_static);
  j.number("fresh_s", c.have_static ? c.static_time.fresh : NAN);
  j.number("warm_s", c.have_static ? c.static_time.warm : NAN);
  j.end_object();

  const ContenderResult *eager = find_result(c.results, "eager");
  j.begin_array("contenders");
  for (const ContenderResult &r : c.results) {
    j.begin_object();
    j.string("name", r.name);
    j.string("kind", r.kind);
    j.string("description", r.description);
    j.boolean("streams_timed", !r.deferred);
    j.number("init_s", r.init);
    j.integer("resident_growth_bytes", r.resident_growth);
    write_stream(j, "update_k", r.update_k);
    write_stream(j, "update_v", r.update_v);
    write_stream(j, "query", r.query);
    j.number("query_batched_s", r.query_batched);
    j.integer("query_batch", r.query_batch);
    j.begin_array("mixes");
    for (size_t m = 0; m < r.mixes.size(); ++m) {
      const MixResult &mr = r.mixes[m];
      j.begin_object();
      j.integer("updates", mr.mix.updates);
      j.integer("queries", mr.mix.queries);
      j.integer("ops", mr.ops);
      j.integer("ops_timed", mr.ops_timed);
      j.number("per_op_s", mr.per_op);
      const ContenderResult *best = best_baseline(c.results, m);
      j.string("best_baseline", best ? best->name : "");
      j.number("over_best_baseline", best ? mr.per_op / best->mixes[m].per_op : NAN);
      j.end_object();
    }
    j.end_array();
    j.begin_object("ratios");
    j.number("init_over_static", c.have_static ? r.init / c.static_time.fresh : NAN);
    j.number("init_over_static_warm", c.have_static ? r.init / c.static_time.warm : NAN);
    j.number("update_k_over_floor", r.update_k.amortized / c.floor.per_update);
    j.number("update_k_over_eager", eager ? r.update_k.amortized / eager->update_k.amortized : NAN);
    j.number("update_v_over_update_k", r.update_v.amortized / r.update_k.amortized);
    j.number("query_median_over_floor", r.query.latency.median / c.floor.per_update);
    j.end_object();
    j.begin_object("check");
    j.integer("samples", static_cast<int64_t>(r.answers.size()));
    j.number("max_error", r.max_error);
    j.number("tolerance", c.tolerance);
    j.boolean("passed", r.passed);
    j.end_object();
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.text();
}

int run(int argc, char **argv) {
  Context c;
  c.options = parse_options(argc, argv);
  const Options &o = c.options;
  c.cpu = cpu_info();
  c.l2_bytes = cache_bytes(_SC_LEVEL2_CACHE_SIZE);
  c.l3_bytes = cache_bytes(_SC_LEVEL3_CACHE_SIZE);
  c.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c.blas_config = openblas_get_config();
  c.blas_threads = openblas_get_num_threads();
  c.blas_env = blas_environment();
  c.timer = timer_overhead();
  c.main_cpu_start = sched_getcpu();

  Rng rng(o.seed);
  Problem start;
  start.n = o.n;
  start.d = o.d;
  start.scale = o.scale;
  const size_t nd = static_cast<size_t>(o.n * o.d);
  start.Q.resize(nd);
  start.K.resize(nd);
  start.V.resize(nd);
  for (double &x : start.Q) x = rng.normal();
  for (double &x : start.K) x = rng.normal();
  for (double &x : start.V) x = rng.normal();
  const Session session = make_session(o, rng);

  c.floor = measure_floor(o, rng);
  // With --only the static recomputation's n x n scratch would count towards
  // the peak RSS that --only exists to measure.
  if (o.only.empty() && o.static_reps > 0) {
    c.static_time = measure_static(start, o.static_reps);
    c.have_static = true;
  }

  // Init and streams one contender after the other; then each mix on every
  // contender in turn, so that a slow phase of the shared machine, which
  // can last from seconds to minutes, weighs on all of them alike instead
  // of on the one whose mixes it met. Every contender's state is alive
  // until the last mix.
  std::vector<Contender> contenders;
  for (const std::string &name : o.configs) {
    const LibraryConfig *cfg = find_config(name);
    const std::string label = cfg->uses_k ? name + " k=" + std::to_string(o.k) : name;
    const ConfigFill fill = cfg->fill;
    contenders.push_back(start_contender(
        label, "library", cfg->description, [&] { return make_library(start, fill, o.k); },
        session));
    if (o.mixes.empty()) c.results.push_back(finish_contender(contenders.back(), session));
  }
  for (const std::string &name : o.baselines) {
    Factory make = name == "recompute" ? Factory([&] { return make_recompute(start); })
                   : name == "eager"   ? Factory([&] { return make_eager(start); })
                                       : Factory([&] { return make_direct(start); });
    contenders.push_back(
        start_contender(name, "baseline", baseline_description(name), make, session));
    if (o.mixes.empty()) c.results.push_back(finish_contender(contenders.back(), session));
  }
  if (!o.mixes.empty()) {
    for (size_t m = 0; m < o.mixes.size(); ++m)
      for (Contender &each : contenders) run_mix(each, session, o, m);
    for (Contender &each : contenders) c.results.push_back(finish_contender(each, session));
  }

  // The final Q, K, V, the same for every contender; the checked rows of B
  // recomputed from scratch, one row at a time so that no n x n matrix is
  // needed at any n.
  Problem final_state = start;
  for (const OpList *ops : {&session.warmup, &session.update_k, &session.update_k_latency,
                            &session.update_v, &session.update_v_latency, &session.prep})
    apply_to_problem(final_state, *ops);
  for (const OpList &ops : session.mixes) apply_to_problem(final_state, ops);
  std::vector<double> expected(session.check.size());
  {
    std::vector<double> b_row(static_cast<size_t>(o.d)), scratch;
    for (size_t t = 0; t < session.check.size(); ++t) {
      reference_row(final_state, session.check[t].row, b_row.data(), scratch);
      expected[t] = b_row[static_cast<size_t>(session.check[t].col)];
    }
  }
  std::vector<double> value_max(static_cast<size_t>(o.d), 0.0);
  for (int64_t r = 0; r < o.n; ++r)
    for (int64_t j = 0; j < o.d; ++j)
      value_max[static_cast<size_t>(j)] =
          std::max(value_max[static_cast<size_t>(j)],
                   std::fabs(final_state.V[static_cast<size_t>(r * o.d + j)]));
  for (ContenderResult &r : c.results) {
    r.max_error = 0.0;
    r.passed = true;
    for (size_t t = 0; t < session.check.size(); ++t) {
      const Op &op = session.check[t];
      const double yardstick = std::max(value_max[static_cast<size_t>(op.col)], 1e-300);
      const double err = std::fabs(r.answers[t] - expected[t]) / yardstick;
      if (!(err <= c.tolerance)) {
        if (r.passed)
          std::fprintf(stderr,
                       "dynattn-bench: MISMATCH in %s at B[%lld][%lld]: %.17g, recomputed %.17g, "
                       "|difference| / max|V[:,j]| = %.3g > %.0e\n",
                       r.name.c_str(), static_cast<long long>(op.row),
                       static_cast<long long>(op.col), r.answers[t], expected[t], err, c.tolerance);
        r.passed = false;
        c.passed = false;
      }
      if (err > r.max_error || std::isnan(err)) r.max_error = err;
    }
  }
  c.peak_rss = peak_rss_bytes();
  c.main_cpu_end = sched_getcpu();

  print_report(c);
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << write_json(c);
    if (!out) {
      std::fprintf(stderr, "dynattn-bench: cannot write %s\n", o.json.c_str());
      return 1;
    }
  }
  return c.passed ? 0 : 1;
}

}  // namespace
}  // namespace bench

int main(int argc, char **argv) {
  try {
    return bench::run(argc, argv);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "dynattn-bench: %s\n", e.what());
    return 1;
  }
}
