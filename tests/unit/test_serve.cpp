// serve/: the dashboard server over a real loopback socket (cpp-httplib's client), the live
// report's one-rendering-per-snapshot, --serve addresses, the agent's config and rotation.
#include <httplib.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "perfbpf/error.h"
#include "serve/agent.h"
#include "serve/agent_config.h"
#include "serve/dashboard_server.h"
#include "serve/live_report.h"
#include "process.h"

using namespace perfbpf;

namespace {

Profile small_profile(uint64_t calls) {
  Profile p;
  p.tool_version = "0.1.0";
  p.session.mode = "pid";
  p.session.pid = 42;
  p.session.end_reason = "running";
  FunctionProfile f;
  f.name = f.demangled = "handle";
  f.object = "/usr/bin/app";
  f.calls = calls;
  f.histogram = {{1000, calls}};
  p.functions.push_back(f);
  return p;
}

}  // namespace

TEST_CASE("serve addresses (--serve): loopback by default, IPv6 in brackets, bad ones are usage errors", "[serve]") {
  CHECK(parse_serve_address("9464").host == "127.0.0.1");
  CHECK(parse_serve_address("9464").port == 9464);
  CHECK(parse_serve_address(":0").port == 0);
  CHECK(parse_serve_address("0.0.0.0:80").host == "0.0.0.0");
  CHECK(parse_serve_address("[::1]:8080").host == "::1");
  for (const char* bad : {"", "host:", "70000", "x:y", "[::1]8080", ":-1"}) {
    INFO(bad);
    try {
      parse_serve_address(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.exit_code() == 2);
      CHECK(std::string(e.what()).find("--serve") != std::string::npos);
    }
  }
}

TEST_CASE("dashboard server: 503 before the first snapshot, then every view, read-only, ends with the object",
          "[serve]") {
  auto live = std::make_shared<LiveReport>();
  int port = 0;
  {
    DashboardServer server({"127.0.0.1", 0}, live);
    port = server.port();
    REQUIRE(port > 0);
    CHECK(server.url() == "http://127.0.0.1:" + std::to_string(port) + "/");
    httplib::Client client("127.0.0.1", port);
    auto starting = client.Get("/metrics");
    REQUIRE(starting);
    CHECK(starting->status == 503);
    auto waiting = client.Get("/");  // a page that reloads itself until the first snapshot
    REQUIRE(waiting);
    CHECK(waiting->body.find("http-equiv=\"refresh\"") != std::string::npos);

    live->publish(small_profile(7));
    auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
    CHECK(metrics->get_header_value("Content-Type").find("version=0.0.4") != std::string::npos);
    CHECK(metrics->body.find("perfbpf_function_calls_total{function=\"handle\",object=\"/usr/bin/app\",pid=\"42\"} 7") !=
          std::string::npos);
    auto report = client.Get("/report.json");
    REQUIRE(report);
    CHECK(nlohmann::json::parse(report->body).at("functions")[0].at("calls") == 7);
    auto page = client.Get("/");
    REQUIRE(page);
    CHECK(page->body.find("data-live=\"1\"") != std::string::npos);
    auto svg = client.Get("/flamegraph/cpu.svg");
    REQUIRE(svg);
    CHECK(svg->status == 204);  // no stacks in this report
    auto post = client.Post("/metrics", "x", "text/plain");
    REQUIRE(post);
    CHECK(post->status == 405);

    live->publish(small_profile(9));  // a new snapshot: a new rendering
    auto later = client.Get("/metrics");
    REQUIRE(later);
    CHECK(later->body.find("} 9\n") != std::string::npos);
  }
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1, 0);
  CHECK(!after.Get("/metrics"));  // nobody listens any more
}

TEST_CASE("live report renders each view once per snapshot", "[serve]") {
  LiveReport live;
  int renders = 0;
  auto render = [&renders](const Profile& p, const std::vector<Profile>&) {
    renders++;
    return std::to_string(p.functions.at(0).calls);
  };
  CHECK(live.view("k", render)->empty());
  live.publish(small_profile(1));
  CHECK(*live.view("k", render) == "1");
  CHECK(*live.view("k", render) == "1");
  CHECK(renders == 1);
  live.publish(small_profile(2));
  CHECK(*live.view("k", render) == "2");
  CHECK(renders == 2);
}

// The agent moves the last snapshot out of the ended period's heap (bench/agent_memory.py
// measures why); the dashboard must not see a difference, nor a reader lose what it holds.
TEST_CASE("live report relocate: the same snapshot in new memory, version kept, views rendered again", "[serve]") {
  LiveReport live;
  live.relocate();  // nothing published yet: nothing to move
  CHECK_FALSE(live.has_snapshot());
  const Profile* seen = nullptr;
  int renders = 0;
  auto render = [&](const Profile& p, const std::vector<Profile>& others) {
    renders++;
    seen = &p;
    return std::to_string(p.functions.at(0).calls) + "/" + std::to_string(others.at(0).functions.at(0).calls);
  };
  live.publish(small_profile(7), {small_profile(3)});
  std::shared_ptr<const std::string> held = live.view("k", render);
  const Profile* before = seen;
  live.relocate();
  CHECK(live.version() == 1);
  CHECK(*held == "7/3");  // a reader's copy outlives the move
  CHECK(*live.view("k", render) == "7/3");
  CHECK(renders == 2);
  CHECK(seen != before);  // rendered from the new copy
  live.publish(small_profile(8), {small_profile(4)});
  CHECK(live.version() == 2);
  CHECK(*live.view("k", render) == "8/4");
}

TEST_CASE("a port already taken fails with the address and a hint", "[serve]") {
  auto live = std::make_shared<LiveReport>();
  DashboardServer first({"127.0.0.1", 0}, live);
  try {
    DashboardServer second({"127.0.0.1", first.port()}, live);
    FAIL("bound twice");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
    CHECK(e.hint().find("--serve") != std::string::npos);
  }
}

TEST_CASE("agent config: defaults, every key, errors naming the file and key", "[agent]") {
  std::string path = test::temp_path("agent.json");
  auto write = [&](const std::string& text) {
    std::ofstream(path) << text;
  };
  write(R"({"listen": "127.0.0.1:0", "output_dir": "/tmp/x", "period_s": 60, "interval_s": 5, "sample_freq": 49,
            "off_cpu": true, "collectors": ["sched", "memory"], "top": 5, "max_output_mb": 10, "process_scan_s": 0.5,
            "probes": [{"process": "nginx", "functions": ["ngx_http_*"]}],
            "thresholds": {"cpu_usage_warning": 90}})");
  AgentConfig c = load_agent_config(path);
  CHECK(c.period_s == 60);
  CHECK(c.sample_freq == 49);
  CHECK(c.collectors == std::vector<std::string>{"sched", "memory"});
  CHECK(c.max_output_bytes == 10u << 20);
  REQUIRE(c.probes.size() == 1);
  CHECK(c.probes[0].functions == std::vector<std::string>{"ngx_http_*"});
  CHECK(c.thresholds.cpu_usage_warning == 90);
  CHECK(load_agent_config(std::string(PERFBPF_SOURCE_DIR) + "/dist/agent.json").probes.size() == 1);  // the shipped one
  write("{}");
  CHECK(load_agent_config(path).listen == "127.0.0.1:9464");
  for (const char* bad : {R"({"period": 5})", R"({"period_s": "5"})", R"({"collectors": ["gpu"]})",
                          R"({"probes": [{"process": "x"}]})", R"({"listen": "nope"})",
                          R"({"thresholds": {"cpu": 1}})", R"({"interval_s": 10, "period_s": 5})", "[1]", "{"}) {
    INFO(bad);
    write(bad);
    try {
      load_agent_config(path);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.exit_code() == (std::string(bad) == "{" ? 1 : 2));  // unreadable JSON is a runtime error, as for -o's reader
      CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
  }
}

TEST_CASE("agent rotation: oldest perfbpf files go first, down to the cap, others and the newest stay", "[agent]") {
  namespace fs = std::filesystem;
  std::string dir = test::temp_path("rotate");
  fs::create_directories(dir);
  auto make = [&](const std::string& name, size_t size, int age_s) {
    std::ofstream(dir + "/" + name) << std::string(size, 'x');
    fs::last_write_time(dir + "/" + name, fs::file_time_type::clock::now() - std::chrono::seconds(age_s));
  };
  make("perfbpf-system-1.json", 400, 300);
  make("perfbpf-system-2.json", 400, 200);
  make("perfbpf-system-3.json", 400, 100);
  make("unrelated.txt", 5000, 1000);
  CHECK(rotate_outputs(dir, 900, {"perfbpf-system-3.json"}) == std::vector<std::string>{"perfbpf-system-1.json"});
  CHECK(rotate_outputs(dir, 100, {"perfbpf-system-3.json"}) == std::vector<std::string>{"perfbpf-system-2.json"});
  CHECK(fs::exists(dir + "/perfbpf-system-3.json"));
  CHECK(fs::exists(dir + "/unrelated.txt"));
}
