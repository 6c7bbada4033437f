// TCP sockets with deadlines: listening, connecting with retries while a peer starts, whole-message send and
// receive. IPv4, which is what IPoIB and the management networks of the clusters ffinfra builds carry.
#pragma once

#include <cstddef>
#include <string>

#include "clock.hpp"

namespace hfreduce {

struct Endpoint {
  std::string ip;
  int port = 0;
  std::string str() const;
};

class Socket {  // owns one file descriptor
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void close();

 private:
  int fd_ = -1;
};

std::string resolve_ipv4(const std::string& host);     // a name or dotted quad → dotted quad; Error if none
std::string interface_ipv4(const std::string& ifname);  // the IPv4 address of a network interface; Error if none
std::string local_ip(int fd);                           // the address a connected socket leaves from

Socket listen_on(const std::string& ip, int port, Endpoint* bound);
// Connects, retrying while nobody listens yet (the peer may still be starting), until the deadline.
Socket connect_to(const Endpoint& to, Deadline deadline, const std::string& who);
Socket accept_one(int listen_fd, Deadline deadline, const std::string& waiting_for);

void send_all(int fd, const void* data, std::size_t n, Deadline deadline, const std::string& who);
void recv_all(int fd, void* data, std::size_t n, Deadline deadline, const std::string& who);

void set_nonblocking(int fd, bool on);
void tune_stream(int fd, int buffer_bytes);  // TCP_NODELAY and socket buffer sizes for bulk transfers

}  // namespace hfreduce
