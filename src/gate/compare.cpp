#include "gate/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>

#include <boost/math/distributions/non_central_t.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace perfbpf::gate {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Moments {
  double mean = 0, var = 0;  // sample variance (n - 1)
  size_t n = 0;
};

Moments moments(const std::vector<double>& v) {
  Moments m;
  m.n = v.size();
  if (m.n == 0) return m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(m.n);
  if (m.n < 2) return m;
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(m.n - 1);
  return m;
}

std::vector<double> logs(const std::vector<double>& v, double floor) {
  std::vector<double> out;
  out.reserve(v.size());
  for (double x : v) out.push_back(std::log(std::max(x, floor)));
  return out;
}

void set_interval(Estimate& e, double log_ratio, double se, double df, double level) {
  e.log_se = se;
  e.df = df;
  const double half = se > 0 ? t_quantile(1 - (1 - level) / 2, df) * se : 0;
  e.change = std::expm1(log_ratio);
  e.lower = std::expm1(log_ratio - half);
  e.upper = std::expm1(log_ratio + half);
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::Paired: return "paired-t";
    case Method::Welch: return "welch-t";
    case Method::WithinRun: return "within-run";
    case Method::None: break;
  }
  return "none";
}

double t_quantile(double p, double df) {
  if (!std::isfinite(df)) return boost::math::quantile(boost::math::normal_distribution<double>(), p);
  return boost::math::quantile(boost::math::students_t_distribution<double>(std::max(df, 1e-3)), p);
}

double bonferroni_level(double family_confidence, size_t checks) {
  return 1 - (1 - family_confidence) / static_cast<double>(std::max<size_t>(checks, 1));
}

Estimate compare_runs(const std::vector<double>& baseline, const std::vector<double>& candidate, bool paired,
                      double level, double floor) {
  Estimate e;
  e.baseline_runs = baseline.size();
  e.candidate_runs = candidate.size();
  const std::vector<double> lb = logs(baseline, floor), lc = logs(candidate, floor);
  const Moments mb = moments(lb), mc = moments(lc);
  e.baseline = mb.n ? std::exp(mb.mean) : 0;
  e.candidate = mc.n ? std::exp(mc.mean) : 0;
  e.change = mb.n && mc.n ? std::expm1(mc.mean - mb.mean) : 0;
  if (mb.n < 2 || mc.n < 2) return e;

  if (paired && mb.n == mc.n) {
    std::vector<double> diff(mb.n);
    for (size_t i = 0; i < mb.n; i++) diff[i] = lc[i] - lb[i];
    const Moments md = moments(diff);
    e.method = Method::Paired;
    e.noise = std::sqrt(md.var / 2);
    set_interval(e, md.mean, std::sqrt(md.var / static_cast<double>(md.n)), static_cast<double>(md.n - 1), level);
    return e;
  }
  const double vb = mb.var / static_cast<double>(mb.n), vc = mc.var / static_cast<double>(mc.n);
  const double se = std::sqrt(vb + vc);
  // Welch-Satterthwaite; with no variance at all any df gives the same (empty) half-width.
  const double df = se > 0 ? (vb + vc) * (vb + vc) /
                                 (vb * vb / static_cast<double>(mb.n - 1) + vc * vc / static_cast<double>(mc.n - 1))
                           : static_cast<double>(mb.n + mc.n - 2);
  e.method = Method::Welch;
  e.noise = std::sqrt((mb.var + mc.var) / 2);
  set_interval(e, mc.mean - mb.mean, se, df, level);
  return e;
}

Estimate compare_within_run(double baseline, double baseline_log_se, double candidate, double candidate_log_se,
                            double level, double floor) {
  Estimate e;
  e.method = Method::WithinRun;
  e.baseline_runs = e.candidate_runs = 1;
  e.baseline = baseline;
  e.candidate = candidate;
  set_interval(e, std::log(std::max(candidate, floor)) - std::log(std::max(baseline, floor)),
               std::hypot(baseline_log_se, candidate_log_se), kInf, level);
  return e;
}

// The non-centrality at which P(T' > critical) = POWER, for non-central t with DF degrees of
// freedom. It depends on neither the noise nor the allowed change, so a gate's checks share it:
// memoized, since one evaluation is ~40 non-central t tails (milliseconds).
double required_ncp(double df, double critical, double power) {
  static std::mutex mutex;
  static std::map<std::tuple<double, double, double>, double> memo;
  const std::lock_guard lock(mutex);
  auto [it, fresh] = memo.try_emplace({df, critical, power}, 0.0);
  if (!fresh) return it->second;
  auto power_at = [&](double ncp) {
    return boost::math::cdf(boost::math::complement(boost::math::non_central_t_distribution<double>(df, ncp), critical));
  };
  double lo = 0, hi = critical + 10;
  while (power_at(hi) < power && hi < 1e6) hi *= 2;
  for (int i = 0; i < 40; i++) {
    const double mid = (lo + hi) / 2;
    (power_at(mid) < power ? lo : hi) = mid;
  }
  return it->second = hi;
}

double detectable_change(double noise, size_t rounds, bool paired, double allowed, double level, double power) {
  if (rounds < 2) return kInf;
  const double allowed_log = std::log1p(allowed);
  if (noise <= 0) return allowed;
  const double n = static_cast<double>(rounds);
  const double se = noise * std::sqrt(2 / n);
  // Welch's df is at most 2n - 2 (equal variances); planning with it is the usual choice.
  const double df = paired ? n - 1 : 2 * n - 2;
  const double critical = t_quantile(1 - (1 - level) / 2, df);
  // The lower bound exceeds the allowed change when (estimate - allowed) / se_estimated > critical:
  // non-central t with ncp = (true - allowed) / se.
  return std::expm1(allowed_log + required_ncp(df, critical, power) * se);
}

size_t rounds_needed(double noise, double change, bool paired, double allowed, double level, double power,
                     size_t max_rounds) {
  if (change <= allowed) return 0;
  if (detectable_change(noise, max_rounds, paired, allowed, level, power) > change) return 0;
  size_t lo = 2, hi = max_rounds;  // detectable_change falls as rounds grow
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (detectable_change(noise, mid, paired, allowed, level, power) <= change) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace perfbpf::gate
