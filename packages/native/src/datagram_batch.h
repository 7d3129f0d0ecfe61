// Buffers for receiving up to N datagrams with one recvmmsg(), each with its
// source address and its original destination (IP_ORIGDSTADDR /
// IPV6_ORIGDSTADDR control message).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

class DatagramBatch {
 public:
  DatagramBatch(size_t capacity, size_t max_datagram_size);

  size_t capacity() const { return headers_.size(); }

  // recvmmsg(MSG_DONTWAIT) into the buffers. Returns the number received, or
  // -errno (-EAGAIN when the socket is empty).
  int Receive(int fd);

  // Accessors for datagram i of the last Receive().
  const uint8_t* data(size_t i) const { return &payload_[i * max_size_]; }
  size_t size(size_t i) const { return headers_[i].msg_len; }
  bool truncated(size_t i) const { return (headers_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  const sockaddr* source(size_t i) const { return reinterpret_cast<const sockaddr*>(&sources_[i]); }
  // The original destination, or nullptr when the control message is missing.
  const sockaddr* original_destination(size_t i) const;

 private:
  // Room for one IP_ORIGDSTADDR or IPV6_ORIGDSTADDR message, with slack.
  static constexpr size_t kControlSize = CMSG_SPACE(sizeof(sockaddr_in6)) * 2;

  size_t max_size_;
  std::vector<uint8_t> payload_;
  std::vector<sockaddr_storage> sources_;
  std::vector<uint8_t> control_;
  std::vector<iovec> iovecs_;
  std::vector<mmsghdr> headers_;
};

}  // namespace sluice
