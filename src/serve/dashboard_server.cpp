#include "serve/dashboard_server.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "perfbpf/error.h"
#include "report/flamegraph_svg.h"
#include "report/html_report.h"
#include "report/json_report.h"
#include "report/prometheus.h"

namespace perfbpf {
namespace {

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

namespace {

// The module sits by the executable (the build tree: next to perfbpf, one level up from the
// tests) or in the installed library directory. perfbpf runs as root: a module anyone but root
// or the executable's owner could have written is not loaded.
std::string http_module_path() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = 0;
  std::string dir(exe);
  dir.erase(dir.rfind('/'));
  struct stat self{};
  if (stat(exe, &self) != 0) return "";
  for (const std::string& path : {dir + "/" PERFBPF_HTTP_MODULE, dir + "/../" PERFBPF_HTTP_MODULE,
                                  dir + "/../" PERFBPF_INSTALL_LIBDIR "/perfbpf/" PERFBPF_HTTP_MODULE}) {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_uid != 0 && st.st_uid != self.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) continue;
    return path;
  }
  return "";
}

HttpStartFn http_start() {
  static HttpStartFn start = [] () -> HttpStartFn {
    const std::string path = http_module_path();
    if (path.empty()) return nullptr;
    void* module = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept for the process's life
    return module ? reinterpret_cast<HttpStartFn>(dlsym(module, PERFBPF_HTTP_START)) : nullptr;
  }();
  return start;
}

}  // namespace

DashboardServer::DashboardServer(const ServeAddress& address, std::shared_ptr<LiveReport> report)
    : report_(std::move(report)), host_(address.host) {
  auto serve = [this](const char* key, const char* type, LiveReport::Renderer render) {
    return [this, key, type, render]() {
      HttpReply res;
      if (!report_->has_snapshot()) {
        if (std::string_view(key) == "html") {  // a page that comes back when there is one
          res.body = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
                     "content=\"1\"><link rel=\"icon\" href=\"data:,\"><title>perfbpf</title></head>"
                     "<body><p>perfbpf: the session is starting&hellip;</p></body></html>\n";
          res.type = "text/html; charset=utf-8";
          return res;
        }
        res.status = 503;
        res.headers.emplace_back("Retry-After", "1");
        res.body = "perfbpf: the session is starting\n";
        res.type = "text/plain";
        return res;
      }
      std::shared_ptr<const std::string> body = report_->view(key, render);
      if (body->empty()) {
        res.status = 204;
        return res;
      }
      // A copy per request: httplib may compress it (a provider of fixed length and gzip
      // disagree on Content-Length), and a report is a few hundred KiB at most.
      res.body = *body;
      res.type = type;
      return res;
    };
  };
  std::vector<HttpRoute> routes;
  routes.push_back({"/", serve("html", "text/html; charset=utf-8", [](const Profile& p, const std::vector<Profile>&) {
                      return html_report(p, /*live=*/true);
                    })});
  routes.push_back({"/report.json", serve("json", "application/json", [](const Profile& p, const std::vector<Profile>&) {
                      return to_json(p).dump() + "\n";
                    })});
  routes.push_back({"/metrics", serve("metrics", "text/plain; version=0.0.4; charset=utf-8",
                                      [](const Profile& p, const std::vector<Profile>& others) {
                                        return prometheus_exposition(p, pointers(others));
                                      })});
  routes.push_back({"/flamegraph/cpu.svg", serve("cpu.svg", "image/svg+xml", [](const Profile& p, const std::vector<Profile>&) {
                      return p.stacks.enabled && !p.stacks.stacks.empty()
                                 ? flamegraph_svg_file(p.stacks, flamegraph_title(p, false))
                                 : std::string();
                    })});
  routes.push_back({"/flamegraph/off-cpu.svg", serve("off-cpu.svg", "image/svg+xml", [](const Profile& p, const std::vector<Profile>&) {
                      return p.off_cpu.enabled && !p.off_cpu.stacks.empty()
                                 ? flamegraph_svg_file(p.off_cpu, flamegraph_title(p, true))
                                 : std::string();
                    })});
  HttpStartFn start = http_start();
  if (!start)
    throw Error("cannot load perfbpf's HTTP server module (" PERFBPF_HTTP_MODULE ")",
                "reinstall perfbpf: it belongs next to the executable or in its library directory", ENOENT);
  std::string why;
  int e = 0;
  server_.reset(start(address.host, address.port, routes, &why, &e));
  if (!server_)
    throw Error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " + why,
                "choose another --serve address or port (0: any free port)", e ? e : EADDRINUSE);
  port_ = server_->port();
}

DashboardServer::~DashboardServer() = default;  // the server stops and joins its threads

std::string DashboardServer::url() const {
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return "http://" + host + ":" + std::to_string(port_) + "/";
}

}  // namespace perfbpf
