#include "webhook/webhook_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace stipple::webhook {

WebhookReceiver::WebhookReceiver(std::function<int(int, const ReceivedRequest&)> answer)
    : answer_(std::move(answer)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 512);
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

WebhookReceiver::~WebhookReceiver() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::vector<ReceivedRequest> WebhookReceiver::requests() {
  MutexLock lock(mu_);
  return requests_;
}

int WebhookReceiver::count() {
  MutexLock lock(mu_);
  return static_cast<int>(requests_.size());
}

bool WebhookReceiver::WaitFor(int n, std::chrono::milliseconds limit) {
  MutexLock lock(mu_);
  return cv_.wait_for(lock.native(), limit,
                      [&]() REQUIRES(mu_) { return static_cast<int>(requests_.size()) >= n; });
}

void WebhookReceiver::Accept() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    MutexLock lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void WebhookReceiver::Serve(int fd) {
  std::string buffer;
  char chunk[16384];
  while (!stopping_) {
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    ReceivedRequest request;
    std::string head = buffer.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp = first.find(' ');
    request.target = first.substr(sp + 1, first.rfind(' ') - sp - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        request.headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = end + 2;
    }
    size_t length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      length = std::stoul(it->second);
    }
    buffer.erase(0, header_end + 4);
    while (buffer.size() < length) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    request.body = buffer.substr(0, length);
    request.arrived = std::chrono::steady_clock::now();
    buffer.erase(0, length);
    int index;
    {
      MutexLock lock(mu_);
      index = static_cast<int>(requests_.size());
    }
    const int status = answer_(index, request);
    {
      MutexLock lock(mu_);
      requests_.push_back(std::move(request));
    }
    cv_.notify_all();
    if (status == 0) {  // hang: read until the client gives up
      while (!stopping_ && ::read(fd, chunk, sizeof chunk) > 0) {
      }
      return;
    }
    std::string reply = "HTTP/1.1 " + std::to_string(status) +
                        " X\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
    if (::write(fd, reply.data(), reply.size()) < 0) return;
  }
}

}  // namespace stipple::webhook
