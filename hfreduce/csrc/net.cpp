#include "net.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "error.hpp"

namespace hfreduce {

namespace {

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(e.port));
  if (inet_pton(AF_INET, e.ip.c_str(), &a.sin_addr) != 1) fail("not an IPv4 address: '", e.ip, "'");
  return a;
}

std::string ip_of(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

// Waits until fd is ready for `events` or the deadline passes; false on the deadline.
bool wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, deadline.ms_left(1000));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) fail("poll: ", std::strerror(errno));
    if (deadline.passed()) return false;
  }
}

}  // namespace

std::string Endpoint::str() const { return cat(ip, ":", port); }

Socket::~Socket() { close(); }

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string resolve_ipv4(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) fail("cannot resolve '", host, "' to an IPv4 address: ", gai_strerror(rc));
  std::string ip = ip_of(*reinterpret_cast<sockaddr_in*>(res->ai_addr));
  ::freeaddrinfo(res);
  return ip;
}

std::string interface_ipv4(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) fail("getifaddrs: ", std::strerror(errno));
  std::string ip;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && ifname == i->ifa_name) {
      ip = ip_of(*reinterpret_cast<sockaddr_in*>(i->ifa_addr));
      break;
    }
  ::freeifaddrs(list);
  if (ip.empty()) fail("network interface '", ifname, "' has no IPv4 address on this host (HFREDUCE_SOCKET_IFNAME)");
  return ip;
}

std::string local_ip(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) fail("getsockname: ", std::strerror(errno));
  return ip_of(a);
}

Socket listen_on(const std::string& ip, int port, Endpoint* bound) {
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) fail("socket: ", std::strerror(errno));
  int one = 1;
  ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = to_sockaddr({ip, port});
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    fail("cannot listen on ", ip, ":", port, ": ", std::strerror(errno));
  if (::listen(s.fd(), 128) != 0) fail("listen: ", std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  if (bound) *bound = {ip, ntohs(a.sin_port)};
  return s;
}

Socket connect_to(const Endpoint& to, Deadline deadline, const std::string& who) {
  const sockaddr_in a = to_sockaddr(to);
  int last = 0;
  for (;;) {
    Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) fail("socket: ", std::strerror(errno));
    int rc = ::connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno == EINPROGRESS) {
      if (wait_fd(s.fd(), POLLOUT, deadline)) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        errno = err;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      set_nonblocking(s.fd(), false);
      return s;
    }
    last = errno;
    if (deadline.passed()) break;
    // refused or unreachable: the peer is not listening yet; try again shortly
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fail("cannot connect to ", who, " at ", to.str(), ": ", std::strerror(last), " (gave up at the timeout)");
}

Socket accept_one(int listen_fd, Deadline deadline, const std::string& waiting_for) {
  if (!wait_fd(listen_fd, POLLIN, deadline)) fail("timed out waiting for ", waiting_for, " to connect");
  Socket s(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!s) fail("accept: ", std::strerror(errno));
  return s;
}

void send_all(int fd, const void* data, std::size_t n, Deadline deadline, const std::string& who) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLOUT, deadline)) fail("timed out sending to ", who);
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      fail("lost the connection to ", who, ": ", std::strerror(errno));
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

void recv_all(int fd, void* data, std::size_t n, Deadline deadline, const std::string& who) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLIN, deadline)) fail("timed out waiting for ", who);
    ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
    if (r == 0) fail(who, " closed the connection");
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      fail("lost the connection to ", who, ": ", std::strerror(errno));
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

void tune_stream(int fd, int buffer_bytes) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  }
}

}  // namespace hfreduce
