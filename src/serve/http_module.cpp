// perfbpf-http.so: the one place cpp-httplib is used (serve/http_module.h).
#include "serve/http_module.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace perfbpf {
namespace {

// Few, short requests (a browser tab, a scraper), but httplib keeps a thread per open
// connection and a browser keeps several open: four workers, and idle keep-alive connections
// let go after a second, bound what the server costs without a scrape waiting on a tab.
constexpr size_t kWorkerThreads = 4;

class Server final : public HttpServer {
 public:
  Server(const std::vector<HttpRoute>& routes) {
    s_.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    s_.set_keep_alive_max_count(20);
    s_.set_keep_alive_timeout(1);
    s_.set_read_timeout(5, 0);
    s_.set_write_timeout(5, 0);
    s_.set_default_headers({{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}});
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
    // perfbpf bind the same port and silently take half the scrapes.
    s_.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    for (const HttpRoute& r : routes) {
      s_.Get(r.path, [get = r.get](const httplib::Request&, httplib::Response& res) {
        HttpReply reply = get();
        res.status = reply.status;
        for (const auto& [k, v] : reply.headers) res.set_header(k, v);
        if (!reply.type.empty()) res.set_content(std::move(reply.body), reply.type);
      });
    }
    auto refuse = [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("perfbpf's dashboard is read-only\n", "text/plain");
    };
    s_.Post(".*", refuse);
    s_.Put(".*", refuse);
    s_.Patch(".*", refuse);
    s_.Delete(".*", refuse);
  }

  bool start(const std::string& host, int port) {
    port_ = port == 0 ? s_.bind_to_any_port(host) : (s_.bind_to_port(host, port) ? port : -1);
    if (port_ < 0) return false;
    // The server's threads (the listener, and the pool it starts) take no signal: the session
    // takes Ctrl-C and SIGTERM through a signalfd, with them blocked in its own thread only, and
    // a server thread that let one in would end perfbpf at once, without its report.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thread_ = std::thread([this] { s_.listen_after_bind(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    // stop() only reaches a server already listening: wait for it, so the destructor cannot
    // miss it and wait forever.
    for (int i = 0; i < 2000 && !s_.is_running(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
  }

  ~Server() override {
    s_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const override { return port_; }

 private:
  httplib::Server s_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace
}  // namespace perfbpf

extern "C" __attribute__((visibility("default"))) perfbpf::HttpServer* perfbpf_http_start(
    const std::string& host, int port, const std::vector<perfbpf::HttpRoute>& routes, std::string* error, int* err_no) {
  auto server = std::make_unique<perfbpf::Server>(routes);
  errno = 0;
  if (!server->start(host, port)) {
    *err_no = errno;
    *error = errno ? std::string(strerror(errno)) : std::string("bind failed");
    return nullptr;
  }
  return server.release();
}
