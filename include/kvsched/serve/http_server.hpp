// kvsched/serve/http_server.hpp: the HTTP front end: a cpp-httplib server hardened for many
// slow or idle clients, with the routes of serve/http_routes.hpp.
//   - worker threads grow on demand to max_threads (serve/task_queue.hpp), so that every
//     running stream (max_num_seqs) and then some get a thread;
//   - read/write timeouts and a short keep-alive timeout free threads of idle sockets;
//   - a watch thread shuts down connections that stay outside a handler for idle_limit
//     (slowloris: headers sent a byte at a time; serve/connection_watch.hpp);
//   - the listening socket gets SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT,
//     which lets a second server bind the same port and share its traffic;
//   - its accept backlog is raised from httplib's compiled-in 5 (CPPHTTPLIB_LISTEN_BACKLOG)
//     to `listen_backlog`, so that a burst of connections is not reset before it is accepted.
#pragma once
#include "kvsched/serve/httplib.hpp"
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "kvsched/serve/connection_watch.hpp"
#include "kvsched/serve/http_routes.hpp"
#include "kvsched/serve/serving_engine.hpp"
#include "kvsched/serve/task_queue.hpp"

namespace kvsched::serve {

/// Limits of the HTTP layer (seconds unless named otherwise).
struct HttpOptions {
  std::size_t max_threads = 512;                     // connection threads at most
  int read_timeout_s = 5;                            // one read of a request may wait this long
  int write_timeout_s = 5;                           // one write of a response may wait this long
  int keep_alive_timeout_s = 2;                      // an idle keep-alive connection is closed after this
  std::chrono::milliseconds idle_limit{10000};       // a connection outside any handler this long is shut down
  std::size_t payload_max_bytes = 8u << 20;          // bigger bodies get 413
  int listen_backlog = 1024;                         // pending connections the kernel queues (listen(2))
  RouteOptions routes{};
};

/// Owns the httplib::Server and the connection watch. bind() then run() (blocking) on one
/// thread; stop() from another.
class HttpServer {
 public:
  HttpServer(ServingEngine& engine, HttpOptions opt) : opt_(opt), watch_(0, opt.idle_limit) {
    const std::size_t n = opt_.max_threads;
    server_.new_task_queue = [n] { return new GrowingTaskQueue(n); };
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server_.set_read_timeout(opt_.read_timeout_s, 0);
    server_.set_write_timeout(opt_.write_timeout_s, 0);
    server_.set_keep_alive_timeout(opt_.keep_alive_timeout_s);
    server_.set_payload_max_length(opt_.payload_max_bytes);
    server_.set_tcp_nodelay(true);
    opt_.routes.watch = &watch_;
    add_routes(server_, engine, opt_.routes);
  }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer() { stop(); }

  /// Binds host:port (port 0 = any free port) and returns the port. Throws
  /// std::invalid_argument for a port outside 0..65535 and std::runtime_error when the
  /// address cannot be bound (in use, not local).
  int bind(const std::string& host, int port) {
    if (port < 0 || port > 65535) throw std::invalid_argument("--port: " + std::to_string(port) + " outside 0..65535");
    const int bound = port == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, port) ? port : -1);
    if (bound <= 0) throw std::runtime_error("cannot bind " + host + ":" + std::to_string(port) + " (address in use or not local)");
    ::listen(server_.listen_fd(), opt_.listen_backlog);  // a second listen() only resizes the queue
    port_ = bound;
    watch_.set_port(bound);
    return bound;
  }
  /// Serves until stop(); starts the connection watch.
  void run() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    watcher_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
        lock.unlock();
        watch_.sweep();
        lock.lock();
      }
    });
    server_.listen_after_bind();
  }
  /// Stops accepting, shuts every connection down (handlers finish their last write first:
  /// call after the engine has closed its streams) and returns; run() returns soon after.
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
    server_.stop();
    watch_.sweep(/*all=*/true);
  }
  [[nodiscard]] bool is_running() const { return server_.is_running(); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] httplib::Server& raw() { return server_; }

 private:
  /// httplib::Server with its listening socket visible.
  struct Server : httplib::Server {
    [[nodiscard]] socket_t listen_fd() const { return svr_sock_; }
  };
  HttpOptions opt_;
  ConnectionWatch watch_;
  Server server_;
  int port_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace kvsched::serve
