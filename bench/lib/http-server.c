/*
 * Minimal HTTP/1.1 responder for the connection-rate benchmark (compiled by
 * bench/conn-rate.js at run time): one epoll loop per process, answers each
 * request with a fixed 2-byte body and "Connection: close", then closes.
 * Cheap per connection, so the server stays far from being the bottleneck
 * of what it measures (bench/conn-rate.js prints its rate alone first:
 * "server alone"). Listens on PORTS consecutive ports from
 * PORT, so each benchmark run can use a port of its own: TIME_WAIT sockets
 * left by one run then never match the next run's 4-tuples.
 *
 *   http-server ADDRESS PORT [PORTS] [PROCESSES]
 * Prints {"event":"listening"} when the sockets listen.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
/* Characters of "\r\n\r\n" matched so far, per connection fd. */
static unsigned char matched[MAX_FDS];

#define MAX_PORTS 64
static int listeners[MAX_PORTS];
static int nlisteners;

static int is_listener(int fd) {
  for (int i = 0; i < nlisteners; i++) if (listeners[i] == fd) return 1;
  return 0;
}

static void serve(void) {
  int ep = epoll_create1(0);
  if (ep < 0) { perror("epoll"); exit(1); }
  for (int i = 0; i < nlisteners; i++) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listeners[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &ev) < 0) { perror("epoll_ctl"); exit(1); }
  }
  struct epoll_event events[256];
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (is_listener(fd)) {
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (c >= MAX_FDS) { close(c); continue; }
          matched[c] = 0;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      int done = r <= 0;
      for (ssize_t k = 0; k < r && !done; k++) {
        char want = (matched[fd] % 2 == 0) ? '\r' : '\n';
        matched[fd] = buf[k] == want ? matched[fd] + 1 : (buf[k] == '\r' ? 1 : 0);
        if (matched[fd] == 4) {
          (void)!write(fd, RESPONSE, sizeof RESPONSE - 1);
          done = 1;
        }
      }
      if (done) close(fd); /* close() also removes it from the epoll set */
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s ADDRESS PORT [PORTS] [PROCESSES]\n", argv[0]); return 2; }
  int port = atoi(argv[2]);
  nlisteners = argc > 3 ? atoi(argv[3]) : 1;
  int procs = argc > 4 ? atoi(argv[4]) : 1;
  if (nlisteners < 1 || nlisteners > MAX_PORTS) { fprintf(stderr, "PORTS must be 1..%d\n", MAX_PORTS); return 2; }
  for (int i = 0; i < nlisteners; i++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port + i)};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 65535) < 0) { perror("listen"); return 1; }
    listeners[i] = lfd;
  }
  printf("{\"event\":\"listening\",\"port\":%d,\"ports\":%d,\"processes\":%d}\n", port, nlisteners, procs);
  fflush(stdout);
  for (int i = 1; i < procs; i++) if (fork() == 0) break;
  serve();
}
