/*
 * The one-core ceiling of a UDP relay on this machine: the baseline the
 * RTP benchmark measures streammesh against (a baseline, not the product).
 * Each ingress socket's datagrams are read in batches with recvmmsg(2) and
 * sent on, unchanged, with one sendmmsg(2) per batch on a socket connected
 * to its receiver: no per-packet system call, no stream logic. Same socket
 * settings as the rtp-proxy and the Node baseline (minimal-relay.ts): 4 MiB
 * buffers, 127.0.0.1, connected egress.
 *
 * Usage: mmsg-relay LISTEN:DEST[,LISTEN:DEST...]   (ports on 127.0.0.1)
 * Prints "ready" on stderr once every socket is bound; stops on SIGTERM or
 * SIGINT, or after 30 minutes.
 *
 * Built by the benchmark with the system's gcc (loadtests/rtp/targets.ts).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 256
#define BATCH 64
#define MAX_DATAGRAM 2048
#define BUFFER_BYTES (4 * 1024 * 1024)
#define LIFETIME_SEC (30 * 60)

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int udp_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  int size = BUFFER_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return fd;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: mmsg-relay LISTEN:DEST[,LISTEN:DEST...]\n");
    return 2;
  }
  int ingress[MAX_PAIRS];
  int egress[MAX_PAIRS];
  int pairs = 0;
  int epoll = epoll_create1(0);
  for (char *item = strtok(argv[1], ","); item != NULL; item = strtok(NULL, ",")) {
    int listen = 0;
    int destination = 0;
    if (pairs == MAX_PAIRS || sscanf(item, "%d:%d", &listen, &destination) != 2) {
      fprintf(stderr, "mmsg-relay: bad pair %s\n", item);
      return 2;
    }
    struct sockaddr_in in = loopback(listen);
    struct sockaddr_in out = loopback(destination);
    ingress[pairs] = udp_socket();
    egress[pairs] = udp_socket();
    if (bind(ingress[pairs], (struct sockaddr *)&in, sizeof in) != 0 ||
        connect(egress[pairs], (struct sockaddr *)&out, sizeof out) != 0) {
      perror("bind/connect");
      return 1;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (unsigned)pairs};
    epoll_ctl(epoll, EPOLL_CTL_ADD, ingress[pairs], &event);
    pairs += 1;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  fprintf(stderr, "ready\n");

  static char buffers[BATCH][MAX_DATAGRAM];
  struct iovec received[BATCH];
  struct iovec sent[BATCH];
  struct mmsghdr in_messages[BATCH];
  struct mmsghdr out_messages[BATCH];
  memset(in_messages, 0, sizeof in_messages);
  memset(out_messages, 0, sizeof out_messages);
  for (int i = 0; i < BATCH; i++) {
    received[i].iov_base = buffers[i];
    received[i].iov_len = MAX_DATAGRAM;
    in_messages[i].msg_hdr.msg_iov = &received[i];
    in_messages[i].msg_hdr.msg_iovlen = 1;
    sent[i].iov_base = buffers[i];
    out_messages[i].msg_hdr.msg_iov = &sent[i];
    out_messages[i].msg_hdr.msg_iovlen = 1;
  }

  time_t end = time(NULL) + LIFETIME_SEC;
  struct epoll_event ready[MAX_PAIRS];
  while (!stopping && time(NULL) < end) {
    int count = epoll_wait(epoll, ready, MAX_PAIRS, 1000);
    for (int e = 0; e < count; e++) {
      int pair = (int)ready[e].data.u32;
      for (;;) {
        int got = recvmmsg(ingress[pair], in_messages, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        for (int i = 0; i < got; i++) sent[i].iov_len = in_messages[i].msg_len;
        // A full socket buffer drops what does not fit, as a relay at its limit would.
        int done = 0;
        while (done < got) {
          int n = sendmmsg(egress[pair], out_messages + done, (unsigned)(got - done), MSG_DONTWAIT);
          if (n <= 0) break;
          done += n;
        }
        if (got < BATCH) break;
      }
    }
  }
  for (int i = 0; i < pairs; i++) {
    close(ingress[i]);
    close(egress[i]);
  }
  return 0;
}
