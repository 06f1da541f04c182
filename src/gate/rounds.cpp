#include "gate/rounds.h"

#include <sys/stat.h>
#include <unistd.h>
#include <wordexp.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "perfbpf/error.h"
#include "report/output_file.h"
#include "report/json_report.h"

namespace perfbpf::gate {
namespace {

std::string report_path(const std::string& dir, const char* side, size_t round) {
  return fmt::format("{}/{}-{:02}.json", dir, side, round);
}

}  // namespace

std::vector<std::string> split_command(const std::string& text, const std::string& option) {
  wordexp_t words{};
  const int rc = wordexp(text.c_str(), &words, WRDE_NOCMD);
  if (rc != 0) {
    if (rc == WRDE_NOSPACE) wordfree(&words);
    throw Error::usage(option + " '" + text + "' is not a command line",
                       rc == WRDE_CMDSUB ? "command substitution is not run: give the command itself"
                                         : "check its quotes; no | & ; < > ( ) { } outside quotes");
  }
  std::vector<std::string> argv(words.we_wordv, words.we_wordv + words.we_wordc);
  wordfree(&words);
  if (argv.empty()) throw Error::usage(option + " is empty", "give the command to run, e.g. './server --bench'");
  return argv;
}

void prepare_rounds_dir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec)) throw Error::usage("--rounds-dir " + dir + " is not a directory");
    if (!std::filesystem::is_empty(dir, ec))
      throw Error::usage("--rounds-dir " + dir + " is not empty",
                         "old rounds must not mix with new ones: remove them or choose another directory");
    return;
  }
  // As the invoking user under sudo, links judged as for every output: theirs without a chown.
  create_output_directory(dir, "--rounds-dir");
}

std::pair<RunSet, RunSet> run_rounds(const RoundsPlan& plan, const std::function<void(const std::string&)>& progress) {
  RunSet baseline, candidate;
  const size_t total = plan.warmup + plan.rounds;
  for (size_t i = 0; i < total; i++) {
    const bool warmup = i < plan.warmup;
    const size_t round = warmup ? i + 1 : i - plan.warmup + 1;
    // Odd rounds run the baseline first, even rounds the candidate: order effects cancel.
    const bool baseline_first = i % 2 == 0;
    for (int k = 0; k < 2; k++) {
      const bool is_baseline = (k == 0) == baseline_first;
      const char* side = is_baseline ? "baseline" : "candidate";
      SessionOptions session = plan.session;
      session.command = is_baseline ? plan.baseline_cmd : plan.candidate_cmd;
      if (progress)
        progress(fmt::format("{} {}/{}: {}", warmup ? "warm-up round" : "round", round,
                             warmup ? plan.warmup : plan.rounds, side));
      Profile p = run_session(session);
      const std::string where = fmt::format("{} round {} ({})", warmup ? "warm-up" : "gate", round, side);
      if (p.session.end_reason == "signal")
        throw Error("interrupted in " + where, "the finished rounds' reports are in " + plan.dir);
      // -d ends a session by stopping the command (SIGTERM): its status then says nothing.
      if (p.session.end_reason != "duration" && p.session.exit_code != 0)
        throw Error(fmt::format("{}: '{}' exited with status {}", where, session.command.front(), p.session.exit_code),
                    "a failing benchmark measures nothing: run it by hand and fix it first");
      if (warmup) continue;
      const std::string path = report_path(plan.dir, side, round);
      write_json_report(p, path, "--rounds-dir");  // the invoking user's file under sudo
      RunSet& set = is_baseline ? baseline : candidate;
      set.runs.push_back(std::move(p));
      set.sources.push_back(path);
    }
  }
  return {std::move(baseline), std::move(candidate)};
}

}  // namespace perfbpf::gate
