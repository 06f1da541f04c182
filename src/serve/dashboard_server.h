// The live dashboard and /metrics over HTTP (cpp-httplib, Debian's libcpp-httplib, in the
// module perfbpf-http.so that only serving loads: serve/http_module.h), for --serve and the agent. Read-only: GET and HEAD only, every other method is 405. Binds to
// 127.0.0.1 unless given another address; the server lives as long as the object, so ending
// the session (destroying it) ends the server.
//
//   /                     the dashboard: the HTML report page in live mode
//   /report.json          the report so far (docs/report-schema.json, end_reason "running")
//   /metrics              Prometheus text exposition (report/prometheus.h)
//   /flamegraph/cpu.svg, /flamegraph/off-cpu.svg   the flame graphs so far (204 when none)
#pragma once

#include <memory>
#include <string>

#include "serve/http_module.h"
#include "serve/live_report.h"

namespace perfbpf {

struct ServeAddress {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (the server says which)
};

// "PORT", ":PORT", "HOST:PORT", "[IPv6]:PORT". Throws Error::usage naming OPTION.
ServeAddress parse_serve_address(const std::string& text, const std::string& option = "--serve");

class DashboardServer {
 public:
  // Loads the HTTP module, binds and starts serving on its own threads; throws Error when the
  // module cannot be loaded or the address cannot be bound.
  DashboardServer(const ServeAddress& address, std::shared_ptr<LiveReport> report);
  ~DashboardServer();  // stops and joins
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT/"

 private:
  std::shared_ptr<LiveReport> report_;
  std::unique_ptr<HttpServer> server_;
  std::string host_;
  int port_ = 0;
};

}  // namespace perfbpf
