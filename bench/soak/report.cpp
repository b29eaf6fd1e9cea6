// The soak's tables and checks (thread rules: report.h).
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <mutex>
#include <sstream>

#include "core/status.h"
#include "run_state.h"

namespace tandem::soak {

namespace {

std::string fmt(double v, int prec = 0) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

}  // namespace

bool print_report(const Figures& f) {
  int64_t rss_peak = 0, rss_end = f.rss.empty() ? -1 : f.rss.back().kib;
  double rss_peak_t = 0;
  for (const auto& s : f.rss)
    if (s.kib > rss_peak) {
      rss_peak = s.kib;
      rss_peak_t = s.t;
    }
  const double iter_end = metric(f.m_end, "tandem_training_iteration");
  const int64_t rss_bound = static_cast<int64_t>(f.rss_factor * static_cast<double>(f.rss_warm));
  const int64_t good_steps = g_stats[kRemote].steps + g_stats[kLocal].steps;
  std::printf("\n=== soak: %d clients, %.1f s (clients done at %.1f s) ===\n", f.clients, f.soak_s, f.clients_done_s);
  std::printf("%-14s %7s %7s %10s %9s %10s %9s %9s %8s\n", "kind", "clients", "conns", "requests", "errors",
              "unexpected", "steps", "episodes", "resends");
  for (int k = 0; k < kNumKinds; ++k) {
    const auto& s = g_stats[k];
    std::printf("%-14s %7lld %7lld %10lld %9lld %10lld %9lld %9lld %8lld\n", kind_name(k),
                static_cast<long long>(s.clients.load()), static_cast<long long>(s.connections.load()),
                static_cast<long long>(s.requests.load()), static_cast<long long>(s.errors.load()),
                static_cast<long long>(s.unexpected.load()), static_cast<long long>(s.steps.load()),
                static_cast<long long>(s.episodes.load()), static_cast<long long>(s.resends.load()));
  }
  for (int k = kNeverReads; k < kNumKinds; ++k) {
    std::string line;
    for (size_t c = 0; c < 16; ++c)
      if (const int64_t n = g_codes[k][c].load())
        line += std::string(line.empty() ? "" : ", ") + core::error_code_name(static_cast<core::ErrorCode>(c)) + " " +
                std::to_string(n);
    if (!line.empty()) std::printf("  %-13s Error replies: %s\n", kind_name(k), line.c_str());
  }
  std::printf("(never-reads: %lld connections stalled by the server's backpressure; remote/local requests = steps (+ uploads))\n",
              static_cast<long long>(g_stats[kNeverReads].stalls.load()));

  {
    // The RSS over time: ten points, to tell growth that levels off from a leak.
    std::string line;
    const double step = std::max(1.0, f.clients_done_s / 10);
    double next = 0;
    for (const auto& smp : f.rss)
      if (smp.t >= next) {
        line += (line.empty() ? "" : "  ") + fmt(smp.t) + "s:" + fmt(static_cast<double>(smp.kib) / 1024, 1);
        next += step;
      }
    std::printf("server RSS (MiB) over time: %s\n", line.c_str());
  }
  struct Row { std::string what, value, bound; bool ok; };
  std::vector<Row> rows;
  rows.push_back({"server alive during the soak", f.server_died ? "no" : "yes", "yes", !f.server_died});
  rows.push_back({"GET /healthz at the end", std::to_string(f.healthz), "200", f.healthz == 200});
  rows.push_back({"exit code on SIGTERM", std::to_string(f.exit_code), "0", f.exit_code == 0});
  rows.push_back({"server RSS at start (KiB)", std::to_string(f.rss_start), "", true});
  rows.push_back({"server RSS after warm-up (KiB)", std::to_string(f.rss_warm), "", true});
  rows.push_back({"server RSS peak (KiB, at " + fmt(rss_peak_t) + " s)", std::to_string(rss_peak),
                  "<= " + std::to_string(rss_bound) + " (" + fmt(f.rss_factor, 1) + "x warm-up)", rss_peak <= rss_bound});
  rows.push_back({"server RSS at the end (KiB)", std::to_string(rss_end), "", true});
  rows.push_back({"served weights finite (version " + std::to_string(f.weights_version) + ")",
                  f.weights_problem.empty() ? "yes" : f.weights_problem, "yes", f.weights_problem.empty()});
  rows.push_back({"training_iteration warm-up -> end", fmt(f.iter_warm) + " -> " + fmt(iter_end), "advances",
                  iter_end > f.iter_warm && iter_end >= 1});
  rows.push_back({"tandem_timesteps_total", fmt(f.srv_steps), "= " + std::to_string(f.exp_steps) + " counted by clients",
                  f.srv_steps == static_cast<double>(f.exp_steps)});
  rows.push_back({"tandem_episodes_total", fmt(f.srv_eps), "= " + std::to_string(f.exp_episodes) + " counted by clients",
                  f.srv_eps == static_cast<double>(f.exp_episodes)});
  rows.push_back({"  of which good clients (steps / episodes)",
                  std::to_string(good_steps) + " / " + std::to_string(g_stats[kRemote].episodes + g_stats[kLocal].episodes), "", true});
  rows.push_back({"  hostile accepted (steps / episodes)",
                  std::to_string(f.exp_steps - good_steps) + " / " +
                      std::to_string(f.exp_episodes - g_stats[kRemote].episodes - g_stats[kLocal].episodes),
                  "handover + resend + many-episodes", true});
  rows.push_back({"good clients' throughput (steps/s)", fmt(static_cast<double>(good_steps) / f.soak_s),
                  "remote " + fmt(static_cast<double>(g_stats[kRemote].steps) / f.soak_s) + ", local " +
                      fmt(static_cast<double>(g_stats[kLocal].steps) / f.soak_s), good_steps > 0});
  const double bad_batches = metric(f.m_end, "tandem_bad_batches_skipped_total");
  const double bad_sgd = metric(f.m_end, "tandem_bad_sgd_steps_skipped_total");
  const double learner_errors = metric(f.m_end, "tandem_learner_errors_total");
  const double io_errors = metric(f.m_end, "tandem_io_errors_total");
  rows.push_back({"tandem_bad_batches_skipped_total", fmt(bad_batches), "(reported)", !std::isnan(bad_batches)});
  rows.push_back({"tandem_bad_sgd_steps_skipped_total", fmt(bad_sgd), "(reported)", !std::isnan(bad_sgd)});
  rows.push_back({"tandem_learner_errors_total", fmt(learner_errors), "(reported)", !std::isnan(learner_errors)});
  rows.push_back({"tandem_io_errors_total", fmt(io_errors), "0", io_errors == 0});
  rows.push_back({"tandem_idle_closed_total", fmt(metric(f.m_end, "tandem_idle_closed_total")), "", true});
  const int64_t exp_open = g_open[kHandover] + g_open[kExtreme];
  const double srv_open = metric(f.m_end, "tandem_open_episodes");
  rows.push_back({"tandem_open_episodes at the end", fmt(srv_open),
                  "= " + std::to_string(exp_open) + " left open (handover abandoned, extreme)",
                  srv_open == static_cast<double>(exp_open)});
  rows.push_back({"tandem_backpressure_holds_total", fmt(metric(f.m_end, "tandem_backpressure_holds_total")), "", true});
  int64_t hostile_errors = 0;
  for (int k = kNeverReads; k < kNumKinds; ++k) hostile_errors += g_stats[k].errors;
  rows.push_back({"Error replies to hostile requests", std::to_string(hostile_errors), "> 0", hostile_errors > 0});
  for (int k = kNeverReads; k < kNumKinds; ++k)
    if (g_stats[k].clients == 0) rows.push_back({std::string("clients of kind ") + kind_name(k), "0", ">= 1", false});
  rows.push_back({"client failures", std::to_string(g_fail.count.load()), "0", g_fail.count == 0});

  std::printf("\n%-46s %-26s %-44s %s\n", "check", "value", "expected", "");
  bool all_ok = true;
  for (const auto& r : rows) {
    std::printf("%-46s %-26s %-44s %s\n", r.what.c_str(), r.value.c_str(), r.bound.c_str(), r.ok ? "ok" : "FAILED");
    all_ok = all_ok && r.ok;
  }
  if (g_fail.count > 0) {
    std::printf("\nfirst client failures:\n");
    std::lock_guard lk(g_fail.mu);
    for (const auto& f : g_fail.first) std::printf("  %s\n", f.c_str());
  }
  return all_ok;
}

}  // namespace tandem::soak
