#include "datagram_batch.h"

#include <errno.h>

namespace sluice {

DatagramBatch::DatagramBatch(size_t capacity, size_t max_datagram_size)
    : max_size_(max_datagram_size),
      payload_(capacity * max_datagram_size),
      sources_(capacity),
      control_(capacity * kControlSize),
      iovecs_(capacity),
      headers_(capacity) {}

int DatagramBatch::Receive(int fd) {
  // recvmmsg overwrites msg_namelen, msg_controllen and msg_flags: reset all.
  for (size_t i = 0; i < headers_.size(); ++i) {
    iovecs_[i] = iovec{&payload_[i * max_size_], max_size_};
    msghdr& header = headers_[i].msg_hdr;
    header.msg_name = &sources_[i];
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_iov = &iovecs_[i];
    header.msg_iovlen = 1;
    header.msg_control = &control_[i * kControlSize];
    header.msg_controllen = kControlSize;
    header.msg_flags = 0;
    headers_[i].msg_len = 0;
  }
  int count;
  do {
    count = ::recvmmsg(fd, headers_.data(), static_cast<unsigned>(headers_.size()), MSG_DONTWAIT, nullptr);
  } while (count < 0 && errno == EINTR);
  return count < 0 ? -errno : count;
}

const sockaddr* DatagramBatch::original_destination(size_t i) const {
  auto* header = const_cast<msghdr*>(&headers_[i].msg_hdr);
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(header); cmsg != nullptr; cmsg = CMSG_NXTHDR(header, cmsg)) {
    const bool v4 = cmsg->cmsg_level == SOL_IP && cmsg->cmsg_type == IP_ORIGDSTADDR &&
                    cmsg->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in));
    const bool v6 = cmsg->cmsg_level == SOL_IPV6 && cmsg->cmsg_type == IPV6_ORIGDSTADDR &&
                    cmsg->cmsg_len >= CMSG_LEN(sizeof(sockaddr_in6));
    if (v4 || v6) return reinterpret_cast<const sockaddr*>(CMSG_DATA(cmsg));
  }
  return nullptr;
}

}  // namespace sluice
