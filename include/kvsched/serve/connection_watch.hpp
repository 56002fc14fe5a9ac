// kvsched/serve/connection_watch.hpp: seeing whether an HTTP client is still there, and
// closing connections that never finish sending a request (slowloris).
// cpp-httplib 0.11 (Debian 12) gives a handler no view of its socket (Request::
// is_connection_closed came in later releases), so the handler finds its socket by the
// connection's address pair among the process's descriptors (/proc/self/fd; Linux), and
// polls it for POLLRDHUP (the peer closed or shut down its side).
#pragma once
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace kvsched::serve {

/// One TCP endpoint as text ("127.0.0.1", 8000).
struct Endpoint {
  std::string addr;
  int port = -1;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

namespace detail {
inline bool endpoint_of(const sockaddr_storage& ss, Endpoint& out) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    if (!inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf)) return false;
    out = {buf, ntohs(a.sin_port)};
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    if (!inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf)) return false;
    out = {buf, ntohs(a.sin6_port)};
    return true;
  }
  return false;
}
}  // namespace detail

/// Local and peer endpoints of socket `fd`; false if it is not a connected TCP socket.
[[nodiscard]] inline bool socket_endpoints(int fd, Endpoint& local, Endpoint& peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || !detail::endpoint_of(ss, local)) return false;
  len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || !detail::endpoint_of(ss, peer)) return false;
  return true;
}

/// Calls fn(fd) for every socket descriptor of this process.
template <class Fn>
void for_each_socket_fd(Fn&& fn) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return;
  std::vector<int> fds;
  const int self = dirfd(d);
  while (const dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) continue;
    fds.push_back(static_cast<int>(fd));
  }
  closedir(d);
  for (int fd : fds) {
    struct stat st{};
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) fn(fd);
  }
}

/// The descriptor of the accepted connection (local, peer), or -1.
[[nodiscard]] inline int find_connection_fd(const Endpoint& local, const Endpoint& peer) {
  int found = -1;
  for_each_socket_fd([&](int fd) {
    Endpoint l, p;
    if (found < 0 && socket_endpoints(fd, l, p) && l.port == local.port && p == peer) found = fd;
  });
  return found;
}

/// True when the peer of connected socket `fd` has closed (or shut down writing) or the
/// socket failed. Does not block.
[[nodiscard]] inline bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/// Closes connections to `port` that stay outside any request handler for longer than
/// `limit`: a client still sending its headers or body (slowloris) or idle past httplib's
/// keep-alive timeout. Handlers mark their connection busy with enter()/leave(). sweep()
/// shuts such sockets down (shutdown(2), so httplib's reader fails and frees its thread).
/// Thread-safe.
class ConnectionWatch {
 public:
  ConnectionWatch(int port, std::chrono::milliseconds limit) : port_(port), limit_(limit) {}
  void set_port(int port) { std::lock_guard lock(mu_); port_ = port; }
  void enter(const Endpoint& peer) { std::lock_guard lock(mu_); ++busy_[peer]; }
  void leave(const Endpoint& peer) {
    std::lock_guard lock(mu_);
    if (--busy_[peer] <= 0) busy_.erase(peer);
    last_busy_[peer] = std::chrono::steady_clock::now();
  }
  /// One pass; returns the connections shut down. `all` shuts every connection to the port
  /// down (at exit).
  int sweep(bool all = false) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    std::map<Endpoint, std::chrono::steady_clock::time_point> seen;
    int closed = 0;
    for_each_socket_fd([&](int fd) {
      Endpoint l, p;
      if (!socket_endpoints(fd, l, p) || l.port != port_) return;
      auto first = first_seen_.emplace(p, now).first->second;
      seen[p] = first;
      if (!all && busy_.count(p)) return;
      auto lb = last_busy_.find(p);
      const auto since = lb != last_busy_.end() ? std::max(first, lb->second) : first;
      if (all || now - since > limit_) {
        Endpoint l2, p2;  // re-check just before: the descriptor may have been reused
        if (socket_endpoints(fd, l2, p2) && p2 == p && l2.port == port_) {
          ::shutdown(fd, SHUT_RDWR);
          ++closed;
        }
      }
    });
    first_seen_ = std::move(seen);
    for (auto it = last_busy_.begin(); it != last_busy_.end();)
      it = first_seen_.count(it->first) ? std::next(it) : last_busy_.erase(it);
    return closed;
  }

 private:
  std::mutex mu_;
  int port_;
  std::chrono::milliseconds limit_;
  std::map<Endpoint, int> busy_;
  std::map<Endpoint, std::chrono::steady_clock::time_point> first_seen_, last_busy_;
};

}  // namespace kvsched::serve
