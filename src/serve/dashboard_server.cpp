#include "serve/dashboard_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "perfbpf/error.h"
#include "report/flamegraph_svg.h"
#include "report/html_report.h"
#include "report/json_report.h"
#include "report/prometheus.h"

namespace perfbpf {
namespace {

// Few, short requests (a browser tab, a scraper), but httplib keeps a thread per open
// connection and a browser keeps several open: four workers, and idle keep-alive connections
// let go after a second, bound what the server costs without a scrape waiting on a tab.
constexpr size_t kWorkerThreads = 4;

std::vector<const Profile*> pointers(const std::vector<Profile>& profiles) {
  std::vector<const Profile*> out;
  for (const auto& p : profiles) out.push_back(&p);
  return out;
}

}  // namespace

ServeAddress parse_serve_address(const std::string& text, const std::string& option) {
  ServeAddress a;
  std::string port = text;
  if (!text.empty() && text[0] == '[') {  // [::1]:8080
    size_t close = text.find("]:");
    if (close == std::string::npos) throw Error::usage("bad address '" + text + "' in " + option, "write [IPv6]:PORT");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    if (colon > 0) a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(port) > 65535 || a.host.empty())
    throw Error::usage("bad address '" + text + "' in " + option, "give [HOST:]PORT, e.g. 127.0.0.1:9464 (0: any free port)");
  a.port = std::stoi(port);
  return a;
}

DashboardServer::DashboardServer(const ServeAddress& address, std::shared_ptr<LiveReport> report)
    : server_(std::make_unique<httplib::Server>()), report_(std::move(report)), host_(address.host) {
  httplib::Server& s = *server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  s.set_keep_alive_max_count(20);
  s.set_keep_alive_timeout(1);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_default_headers({{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}});
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // perfbpf bind the same port and silently take half the scrapes.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  auto serve = [this](const char* key, const char* type, LiveReport::Renderer render) {
    return [this, key, type, render](const httplib::Request&, httplib::Response& res) {
      if (!report_->has_snapshot()) {
        if (std::string_view(key) == "html") {  // a page that comes back when there is one
          res.set_content("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
                          "content=\"1\"><link rel=\"icon\" href=\"data:,\"><title>perfbpf</title></head>"
                          "<body><p>perfbpf: the session is starting&hellip;</p></body></html>\n",
                          "text/html; charset=utf-8");
          return;
        }
        res.status = 503;
        res.set_header("Retry-After", "1");
        res.set_content("perfbpf: the session is starting\n", "text/plain");
        return;
      }
      std::shared_ptr<const std::string> body = report_->view(key, render);
      if (body->empty()) {
        res.status = 204;
        return;
      }
      // A copy per request: httplib may compress it (a provider of fixed length and gzip
      // disagree on Content-Length), and a report is a few hundred KiB at most.
      res.set_content(*body, type);
    };
  };
  s.Get("/", serve("html", "text/html; charset=utf-8",
                   [](const Profile& p, const std::vector<Profile>&) { return html_report(p, /*live=*/true); }));
  s.Get("/report.json", serve("json", "application/json",
                              [](const Profile& p, const std::vector<Profile>&) { return to_json(p).dump() + "\n"; }));
  s.Get("/metrics", serve("metrics", "text/plain; version=0.0.4; charset=utf-8",
                          [](const Profile& p, const std::vector<Profile>& others) {
                            return prometheus_exposition(p, pointers(others));
                          }));
  s.Get("/flamegraph/cpu.svg", serve("cpu.svg", "image/svg+xml", [](const Profile& p, const std::vector<Profile>&) {
          return p.stacks.enabled && !p.stacks.stacks.empty() ? flamegraph_svg_file(p.stacks, flamegraph_title(p, false))
                                                              : std::string();
        }));
  s.Get("/flamegraph/off-cpu.svg", serve("off-cpu.svg", "image/svg+xml", [](const Profile& p, const std::vector<Profile>&) {
          return p.off_cpu.enabled && !p.off_cpu.stacks.empty()
                     ? flamegraph_svg_file(p.off_cpu, flamegraph_title(p, true))
                     : std::string();
        }));
  auto refuse = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("perfbpf's dashboard is read-only\n", "text/plain");
  };
  s.Post(".*", refuse);
  s.Put(".*", refuse);
  s.Patch(".*", refuse);
  s.Delete(".*", refuse);

  port_ = address.port == 0 ? s.bind_to_any_port(address.host) : (s.bind_to_port(address.host, address.port) ? address.port : -1);
  if (port_ < 0) {
    int e = errno;
    throw Error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " +
                    (e ? std::string(strerror(e)) : std::string("bind failed")),
                "choose another --serve address or port (0: any free port)", e ? e : EADDRINUSE);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() only reaches a server already listening: wait for it, so the destructor cannot
  // miss it and wait forever.
  for (int i = 0; i < 2000 && !server_->is_running(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

DashboardServer::~DashboardServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string DashboardServer::url() const {
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return "http://" + host + ":" + std::to_string(port_) + "/";
}

}  // namespace perfbpf
