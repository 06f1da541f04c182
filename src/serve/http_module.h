// The HTTP server lives in a module of its own (perfbpf-http.so, cpp-httplib), loaded only when
// perfbpf serves (--serve, the agent's listen): Debian's libcpp-httplib is built with OpenSSL
// and brotli, and mapping those costs every session ~3.7 MiB of resident memory. This is the
// whole interface between the two: plain routes in, a server object out; no perfbpf code runs
// in the module, and no exception crosses it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace perfbpf {

struct HttpReply {
  int status = 200;
  std::string type;  // Content-Type; no body when empty
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// GET (and HEAD) of PATH answers with what GET returns, called on a server thread.
struct HttpRoute {
  std::string path;
  std::function<HttpReply()> get;
};

// Serves until destroyed (stops and joins its threads).
class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
};

// The module's entry point, named PERFBPF_HTTP_START: binds HOST:PORT (0: any free port) and
// serves ROUTES, every other method 405. On failure returns null with ERROR and ERRNO set.
using HttpStartFn = HttpServer* (*)(const std::string& host, int port, const std::vector<HttpRoute>& routes,
                                    std::string* error, int* err_no);
#define PERFBPF_HTTP_START "perfbpf_http_start"
#define PERFBPF_HTTP_MODULE "perfbpf-http.so"

}  // namespace perfbpf
