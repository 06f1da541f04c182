// Debian's nginx, started by the test, probed with --pid while ab loads it: the probes go in
// and out with requests in flight, which must never show as lost entries; and every request
// is counted against ab's own count.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "perfbpf/profile.h"
#include "report/json_report.h"
#include "process.h"

using namespace perfbpf;
using namespace perfbpf::test;

namespace {

const std::vector<std::string> kFunctions = {"ngx_http_process_request", "ngx_http_core_run_phases",
                                             "ngx_http_finalize_request", "ngx_http_write_filter", "libc:writev"};

// nginx with one worker, serving a static file from a directory of its own.
class Nginx {
 public:
  Nginx() : dir_(temp_path("nginx")), port_(free_tcp_port()) {
    REQUIRE(port_ > 0);
    std::filesystem::create_directories(dir_ + "/www");
    std::filesystem::create_directories(dir_ + "/logs");
    std::ofstream(dir_ + "/www/index.html") << std::string(2000, 'x') << "\n";
    std::ofstream conf(dir_ + "/nginx.conf");
    conf << "user root;\nworker_processes 1;\ndaemon off;\npid " << dir_ << "/nginx.pid;\nerror_log " << dir_
         << "/logs/error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n"
         << "  client_body_temp_path " << dir_ << "/body;\n  proxy_temp_path " << dir_ << "/proxy;\n"
         << "  fastcgi_temp_path " << dir_ << "/fcgi;\n  uwsgi_temp_path " << dir_ << "/uwsgi;\n"
         << "  scgi_temp_path " << dir_ << "/scgi;\n"
         << "  server { listen 127.0.0.1:" << port_ << "; location / { root " << dir_ << "/www; } }\n}\n";
    conf.close();
    master_ = spawn({"/usr/sbin/nginx", "-c", dir_ + "/nginx.conf", "-p", dir_});
    REQUIRE(eventually([&] { return !http_get(port_, "/index.html").empty(); }, 10000));
    std::ifstream children("/proc/" + std::to_string(master_.pid) + "/task/" + std::to_string(master_.pid) + "/children");
    REQUIRE(children >> worker_);
  }
  ~Nginx() {
    kill(master_.pid, SIGTERM);
    finish(master_);
  }
  int worker() const { return worker_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/index.html"; }

 private:
  std::string dir_;
  int port_;
  Spawned master_;
  int worker_ = 0;
};

std::vector<std::string> perfbpf_pid(int pid, const std::string& report, std::vector<std::string> extra) {
  std::vector<std::string> argv = {perfbpf_bin(), "--pid", std::to_string(pid), "--sample-freq", "0",
                                   "--collectors", "none", "-o", report};
  for (const auto& f : kFunctions) argv.insert(argv.end(), {"-f", f});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

const FunctionProfile& fn(const Profile& p, const std::string& name) {
  for (const auto& f : p.functions)
    if (f.name == name) return f;
  FAIL("no function " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("nginx under load: probes attach and detach mid-request without lost entries", "[bpf][nginx]") {
  Nginx nginx;
  // Load through the whole session, its start and its end included.
  Spawned load = spawn({"/usr/bin/ab", "-q", "-t", "8", "-n", "10000000", "-c", "8", nginx.url()});
  usleep(500 * 1000);  // let the load build up
  const std::string report = temp_path("loaded.json");
  Finished session = run(perfbpf_pid(nginx.worker(), report, {"-d", "3"}));
  kill(load.pid, SIGINT);
  finish(load);
  INFO(session.out << session.err);
  REQUIRE(session.exit_code == 0);
  Profile p = read_json_report(report);
  CHECK(session.err.find("data incomplete") == std::string::npos);  // the summary is on stderr
  CHECK(p.events.lost == 0);
  CHECK(p.events.lost_by_reason.at("missing_entry") == 0);
  for (const auto& b : p.analysis.bottlenecks) CHECK(b.id.rfind("lost-events", 0) != 0);
  const uint64_t requests = fn(p, "ngx_http_process_request").calls;
  CHECK(requests > 500);
  for (const auto& f : p.functions) {
    INFO(f.name);
    // Calls already running when the probes went in: at most one per open frame of the
    // worker's one thread (finalize_request may sit twice on its stack).
    CHECK(f.in_flight_at_attach <= 2);
    CHECK(f.probe_method == "uretprobe");  // nginx is C: no exception can pass
    CHECK(f.unwound == 0);                 // nor any longjmp
  }
  // A request is one writev; the two counts differ only by the requests the session's start
  // and end cut through.
  const uint64_t writev = fn(p, "writev").calls;
  CHECK(writev + 2 >= requests);
  CHECK(requests + 2 >= writev);
}

TEST_CASE("nginx: every request made while probed is counted", "[bpf][nginx]") {
  Nginx nginx;
  const std::string report = temp_path("exact.json");
  Spawned session = spawn(perfbpf_pid(nginx.worker(), report, {"-q"}));
  REQUIRE(read_until(session.stderr_fd, "Ctrl-C", 20000).find("Ctrl-C") != std::string::npos);
  Finished ab = run({"/usr/bin/ab", "-q", "-n", "1000", "-c", "4", nginx.url()});
  INFO(ab.out << ab.err);
  REQUIRE(ab.exit_code == 0);
  REQUIRE(ab.out.find("Failed requests:        0") != std::string::npos);
  kill(session.pid, SIGINT);
  Finished done = finish(session);
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  Profile p = read_json_report(report);
  CHECK(fn(p, "ngx_http_process_request").calls == 1000);
  CHECK(fn(p, "writev").calls == 1000);
  CHECK(fn(p, "ngx_http_core_run_phases").calls >= 1000);
  for (const auto& f : p.functions) {
    INFO(f.name);
    CHECK(f.in_flight_at_attach == 0);  // idle when attached
    CHECK(f.in_flight == 0);
  }
  CHECK(p.events.lost == 0);
}
