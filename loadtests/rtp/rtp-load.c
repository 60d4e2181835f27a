/*
 * The RTP benchmark's load in C: a generator and a sink that move datagrams
 * with sendmmsg(2)/recvmmsg(2), so that the harness, not the relay under
 * test, is no longer the ceiling (the Node generator tops out near 150-260k
 * packets/s on a 2-core machine, below the C relay's own maximum).
 *
 * The packets are those of packet.ts, byte for byte: valid RTP (V=2, PT 96,
 * a sequence number and a 90 kHz timestamp per flow, one SSRC per flow) with
 * an RFC 8285 one-byte header extension holding the send time
 * (CLOCK_MONOTONIC, ms, IEEE double, big-endian). Header extensions stay in
 * clear under SRTP (RFC 3711 encrypts the payload only), so the sink reads
 * the send time of SRTP packets a relay protected without decrypting them;
 * the Node receiver and this sink read each other's packets.
 *
 *   rtp-load gen SIZE SRC:DST:SSRC[:SEQ][,...] [RATE DURATION_MS]
 *   rtp-load sink PORT[,PORT...] [DURATION_MS]
 *
 * With the optional arguments each runs once, prints one JSON line on
 * stdout and exits. Without them each prints {"type":"ready","pid":N} and
 * takes one command per line on stdin, answering with one JSON line:
 *   gen:  "run PPS MS" -> {"type":"run","sent":..,"sendErrors":..,"durationMs":..,"achievedPps":..,
 *         "next":[per flow]}
 *   sink: "reset" -> {"type":"reset"};  "collect" -> {"type":"collect",
 *         "received":[per flow],"foreign":..,"bytes":..,"reordered":[..],
 *         "duplicates":[..],"seqLost":[..],"latency":{samples,meanUs,p50Us,
 *         p90Us,p99Us,p999Us,maxUs}}
 *   both: "exit", or end of stdin (the parent is gone).
 * SEQ is a flow's first sequence number (default random, a new sender);
 * "next" is the one each flow sends next, so that a generator started later
 * goes on with the same streams as their one sender would.
 * Bounded: a run lasts at most 60 s at most 2,000,000 packets/s; every
 * process ends by itself after 30 minutes (SIGALRM). Ports are on 127.0.0.1.
 *
 * Built by the benchmark with the system's gcc, like mmsg-relay.c
 * (loadtests/rtp/targets.ts, buildC).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 256
#define MAX_SIZE 1500
#define HEADER_BYTES 28
#define SEND_TIME_OFFSET 17
#define PAYLOAD_TYPE 96
/* Packets sent per flow in one sendmmsg, at most; a burst after a stall is capped at BURST. */
#define FLOW_BATCH 256
#define BURST 1024
#define RECV_BATCH 64
#define MAX_DATAGRAM 2048
#define BUFFER_BYTES (4 * 1024 * 1024)
#define LIFETIME_SEC (30 * 60)
#define MAX_RATE 2000000.0
#define MAX_DURATION_MS 60000.0
/* The generator sleeps at least this long when ahead: bursts of at most this many µs of packets. */
#define MIN_SLEEP_NS 50000L
#define HISTOGRAM_MAX_US 100000

static double monotonic_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static int64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

static int udp_socket(int flags) {
  int fd = socket(AF_INET, SOCK_DGRAM | flags, 0);
  if (fd < 0) {
    perror("rtp-load: socket");
    exit(1);
  }
  int size = BUFFER_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return fd;
}

static int parse_port(const char *text) {
  char *end = NULL;
  long value = strtol(text, &end, 10);
  if (end == text || value <= 0 || value > 65535) return -1;
  return (int)value;
}

/* ---------------------------------------------------------------- generator */

struct flow {
  int fd;
  uint32_t ssrc;
  uint16_t sequence;
  unsigned char packets[FLOW_BATCH][MAX_SIZE];
  struct iovec iov[FLOW_BATCH];
  struct mmsghdr messages[FLOW_BATCH];
  unsigned pending;
};

static struct flow *flows;
static int flow_count;
static int packet_size;

static void template_packet(unsigned char *packet, uint32_t ssrc) {
  memset(packet, 0, (size_t)packet_size);
  packet[0] = 0x90; /* V=2, X=1 */
  packet[1] = PAYLOAD_TYPE;
  uint32_t ssrc_be = htonl(ssrc);
  memcpy(packet + 8, &ssrc_be, 4);
  packet[12] = 0xbe;
  packet[13] = 0xde;
  packet[14] = 0;
  packet[15] = 3; /* 3 words of extension */
  packet[16] = 0x17; /* ID 1, 8 bytes */
}

/* Sends the flow's pending packets, stamped now; returns the number not sent. */
static long flush_flow(struct flow *flow) {
  if (flow->pending == 0) return 0;
  double now = monotonic_ms();
  uint64_t bits;
  memcpy(&bits, &now, sizeof bits);
  bits = htobe64(bits);
  uint32_t timestamp = htonl((uint32_t)fmod(floor(now * 90.0), 4294967296.0));
  for (unsigned i = 0; i < flow->pending; i++) {
    unsigned char *packet = flow->packets[i];
    uint16_t sequence = htons(flow->sequence);
    flow->sequence = (uint16_t)(flow->sequence + 1);
    memcpy(packet + 2, &sequence, 2);
    memcpy(packet + 4, &timestamp, 4);
    memcpy(packet + SEND_TIME_OFFSET, &bits, 8);
  }
  long failed = 0;
  unsigned done = 0;
  while (done < flow->pending) {
    int n = sendmmsg(flow->fd, flow->messages + done, flow->pending - done, 0);
    if (n > 0) {
      done += (unsigned)n;
    } else {
      /* A refused or full send loses this datagram (counted), not the rest of the batch. */
      failed++;
      done++;
    }
  }
  flow->pending = 0;
  return failed;
}

static void generator_run(double rate, double duration_ms) {
  if (!(rate >= 1)) rate = 1;
  if (rate > MAX_RATE) rate = MAX_RATE;
  if (!(duration_ms >= 1)) duration_ms = 1;
  if (duration_ms > MAX_DURATION_MS) duration_ms = MAX_DURATION_MS;
  const int64_t duration_ns = (int64_t)(duration_ms * 1e6);
  const double ns_per_packet = 1e9 / rate;
  const int64_t start = monotonic_ns();
  long attempted = 0;
  long failed = 0;
  const long planned = (long)((double)duration_ns / ns_per_packet);
  for (;;) {
    int64_t elapsed = monotonic_ns() - start;
    /* Past the end, one last burst sends what fell due before it (a stall at the end). */
    const int last = elapsed >= duration_ns;
    long due = last ? planned : (long)((double)elapsed / ns_per_packet) + 1;
    long burst = due - attempted;
    if (burst > BURST) burst = BURST;
    while (burst > 0) {
      struct flow *flow = &flows[attempted % flow_count];
      flow->pending++;
      attempted++;
      burst--;
      if (flow->pending == FLOW_BATCH) failed += flush_flow(flow);
    }
    for (int f = 0; f < flow_count; f++) failed += flush_flow(&flows[f]);
    if (last) break;
    int64_t next = (int64_t)((double)attempted * ns_per_packet);
    int64_t ahead = next - (monotonic_ns() - start);
    if (ahead > 0) {
      if (ahead < MIN_SLEEP_NS) ahead = MIN_SLEEP_NS;
      if (ahead > 1000000) ahead = 1000000;
      struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)ahead};
      nanosleep(&pause, NULL);
    }
  }
  double elapsed_ms = (double)(monotonic_ns() - start) / 1e6;
  long sent = attempted - failed;
  printf("{\"type\":\"run\",\"sent\":%ld,\"sendErrors\":%ld,\"durationMs\":%.3f,\"achievedPps\":%.1f,"
         "\"next\":[",
         sent, failed, elapsed_ms, elapsed_ms > 0 ? (double)sent / elapsed_ms * 1000.0 : 0.0);
  for (int f = 0; f < flow_count; f++) printf("%s%u", f == 0 ? "" : ",", (unsigned)flows[f].sequence);
  printf("]}\n");
  fflush(stdout);
}

static int generator_main(int argc, char **argv) {
  if (argc != 4 && argc != 6) {
    fprintf(stderr, "usage: rtp-load gen SIZE SRC:DST:SSRC[:SEQ][,...] [RATE DURATION_MS]\n");
    return 2;
  }
  packet_size = atoi(argv[2]);
  if (packet_size < HEADER_BYTES || packet_size > MAX_SIZE) {
    fprintf(stderr, "rtp-load: SIZE must be in [%d, %d]\n", HEADER_BYTES, MAX_SIZE);
    return 2;
  }
  flows = calloc(MAX_FLOWS, sizeof *flows);
  if (flows == NULL) return 1;
  srand((unsigned)monotonic_ns() ^ (unsigned)getpid());
  for (char *item = strtok(argv[3], ","); item != NULL; item = strtok(NULL, ",")) {
    unsigned src = 0, dst = 0;
    unsigned long ssrc = 0;
    unsigned first = (unsigned)rand() & 0xffff;
    int fields = flow_count == MAX_FLOWS ? 0 : sscanf(item, "%u:%u:%lu:%u", &src, &dst, &ssrc, &first);
    if (fields < 3 || src == 0 || src > 65535 || dst == 0 || dst > 65535 || first > 65535) {
      fprintf(stderr, "rtp-load: bad flow %s\n", item);
      return 2;
    }
    struct flow *flow = &flows[flow_count++];
    /* Blocking: a full send buffer makes the generator wait, it never drops on its own side. */
    flow->fd = udp_socket(0);
    struct sockaddr_in from = loopback((int)src);
    struct sockaddr_in to = loopback((int)dst);
    if (bind(flow->fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        connect(flow->fd, (struct sockaddr *)&to, sizeof to) != 0) {
      perror("rtp-load: bind/connect");
      return 1;
    }
    flow->ssrc = (uint32_t)ssrc;
    flow->sequence = (uint16_t)first;
    for (int i = 0; i < FLOW_BATCH; i++) {
      template_packet(flow->packets[i], flow->ssrc);
      flow->iov[i].iov_base = flow->packets[i];
      flow->iov[i].iov_len = (size_t)packet_size;
      memset(&flow->messages[i], 0, sizeof flow->messages[i]);
      flow->messages[i].msg_hdr.msg_iov = &flow->iov[i];
      flow->messages[i].msg_hdr.msg_iovlen = 1;
    }
  }
  if (flow_count == 0) {
    fprintf(stderr, "rtp-load: no flow\n");
    return 2;
  }
  if (argc == 6) {
    generator_run(atof(argv[4]), atof(argv[5]));
    return 0;
  }
  printf("{\"type\":\"ready\",\"pid\":%d}\n", (int)getpid());
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin) != NULL) {
    double rate = 0, duration = 0;
    if (sscanf(line, "run %lf %lf", &rate, &duration) == 2) {
      generator_run(rate, duration);
    } else if (strncmp(line, "exit", 4) == 0) {
      break;
    } else {
      fprintf(stderr, "rtp-load gen: unknown command %s", line);
    }
  }
  return 0;
}

/* --------------------------------------------------------------------- sink */

struct port_stats {
  long received;
  long reordered;
  long duplicates;
  int started;
  int64_t base;    /* extended sequence number of the first packet */
  int64_t highest; /* highest extended sequence number seen */
};

static uint32_t histogram[HISTOGRAM_MAX_US + 1];
static long samples;
static double sum_us;
static double max_us;
static long foreign;
static long bytes;
static struct port_stats ports[MAX_FLOWS];
static int port_count;

static void sink_reset(void) {
  memset(histogram, 0, sizeof histogram);
  memset(ports, 0, sizeof ports);
  samples = 0;
  sum_us = 0;
  max_us = 0;
  foreign = 0;
  bytes = 0;
}

static double percentile(double q) {
  if (samples == 0) return 0;
  long rank = (long)ceil(q * (double)samples);
  long seen = 0;
  for (int bin = 0; bin <= HISTOGRAM_MAX_US; bin++) {
    seen += histogram[bin];
    if (seen >= rank) return bin + 0.5;
  }
  return HISTOGRAM_MAX_US;
}

static void record(int port, const unsigned char *packet, size_t length, double now_ms) {
  if (length < HEADER_BYTES || packet[0] != 0x90 || packet[12] != 0xbe || packet[13] != 0xde ||
      packet[16] != 0x17) {
    foreign++;
    return;
  }
  uint64_t bits;
  memcpy(&bits, packet + SEND_TIME_OFFSET, 8);
  bits = be64toh(bits);
  double sent_ms;
  memcpy(&sent_ms, &bits, sizeof sent_ms);
  double us = (now_ms - sent_ms) * 1000.0;
  if (!(us >= 0)) us = 0;
  int bin = us >= HISTOGRAM_MAX_US ? HISTOGRAM_MAX_US : (int)us;
  histogram[bin]++;
  samples++;
  sum_us += us;
  if (us > max_us) max_us = us;
  bytes += (long)length;

  struct port_stats *stats = &ports[port];
  uint16_t sequence = (uint16_t)((packet[2] << 8) | packet[3]);
  stats->received++;
  if (!stats->started) {
    stats->started = 1;
    stats->base = sequence;
    stats->highest = sequence;
    return;
  }
  int16_t delta = (int16_t)(sequence - (uint16_t)stats->highest);
  if (delta > 0) stats->highest += delta;
  else if (delta < 0) stats->reordered++;
  else stats->duplicates++;
}

static void print_array(const char *name, int field) {
  printf("\"%s\":[", name);
  for (int p = 0; p < port_count; p++) {
    struct port_stats *s = &ports[p];
    long value = field == 0   ? s->received
                 : field == 1 ? s->reordered
                 : field == 2 ? s->duplicates
                              : (s->started ? (long)(s->highest - s->base + 1) - s->received +
                                                  s->duplicates
                                            : 0);
    printf("%s%ld", p == 0 ? "" : ",", value);
  }
  printf("],");
}

static void sink_collect(void) {
  printf("{\"type\":\"collect\",");
  print_array("received", 0);
  print_array("reordered", 1);
  print_array("duplicates", 2);
  print_array("seqLost", 3);
  printf("\"foreign\":%ld,\"bytes\":%ld,\"latency\":{\"samples\":%ld,\"meanUs\":%.1f,"
         "\"p50Us\":%.1f,\"p90Us\":%.1f,\"p99Us\":%.1f,\"p999Us\":%.1f,\"maxUs\":%.1f}}\n",
         foreign, bytes, samples, samples == 0 ? 0.0 : round(sum_us / (double)samples * 10) / 10,
         percentile(0.5), percentile(0.9), percentile(0.99), percentile(0.999),
         round(max_us * 10) / 10);
  fflush(stdout);
}

/* Handles the complete lines in `buffer`; returns 0 on "exit". */
static int sink_commands(char *buffer, size_t *length) {
  char *start = buffer;
  char *newline;
  while ((newline = memchr(start, '\n', *length - (size_t)(start - buffer))) != NULL) {
    *newline = '\0';
    if (strcmp(start, "reset") == 0) {
      sink_reset();
      printf("{\"type\":\"reset\"}\n");
      fflush(stdout);
    } else if (strcmp(start, "collect") == 0) {
      sink_collect();
    } else if (strcmp(start, "exit") == 0) {
      return 0;
    } else {
      fprintf(stderr, "rtp-load sink: unknown command %s\n", start);
    }
    start = newline + 1;
  }
  *length -= (size_t)(start - buffer);
  memmove(buffer, start, *length);
  if (*length == 255) *length = 0; /* a line too long to be a command */
  return 1;
}

static int sink_main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: rtp-load sink PORT[,PORT...] [DURATION_MS]\n");
    return 2;
  }
  int fds[MAX_FLOWS];
  int epoll = epoll_create1(0);
  for (char *item = strtok(argv[2], ","); item != NULL; item = strtok(NULL, ",")) {
    int port = parse_port(item);
    if (port < 0 || port_count == MAX_FLOWS) {
      fprintf(stderr, "rtp-load: bad port %s\n", item);
      return 2;
    }
    int fd = udp_socket(SOCK_NONBLOCK);
    struct sockaddr_in address = loopback(port);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
      perror("rtp-load: bind");
      return 1;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (unsigned)port_count};
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    fds[port_count++] = fd;
  }
  const int standalone = argc == 4;
  const double end_ms = standalone ? monotonic_ms() + atof(argv[3]) : INFINITY;
  if (!standalone) {
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = MAX_FLOWS};
    epoll_ctl(epoll, EPOLL_CTL_ADD, STDIN_FILENO, &event);
    printf("{\"type\":\"ready\",\"pid\":%d}\n", (int)getpid());
    fflush(stdout);
  }

  static unsigned char buffers[RECV_BATCH][MAX_DATAGRAM];
  struct iovec iov[RECV_BATCH];
  struct mmsghdr messages[RECV_BATCH];
  memset(messages, 0, sizeof messages);
  for (int i = 0; i < RECV_BATCH; i++) {
    iov[i].iov_base = buffers[i];
    iov[i].iov_len = MAX_DATAGRAM;
    messages[i].msg_hdr.msg_iov = &iov[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  char commands[256];
  size_t command_length = 0;
  struct epoll_event ready[MAX_FLOWS + 1];
  for (;;) {
    if (standalone && monotonic_ms() >= end_ms) break;
    int count = epoll_wait(epoll, ready, MAX_FLOWS + 1, standalone ? 10 : 1000);
    for (int e = 0; e < count; e++) {
      unsigned index = ready[e].data.u32;
      if (index == MAX_FLOWS) {
        ssize_t got = read(STDIN_FILENO, commands + command_length, sizeof commands - 1 - command_length);
        if (got <= 0) return 0; /* the parent is gone */
        command_length += (size_t)got;
        if (!sink_commands(commands, &command_length)) return 0;
        continue;
      }
      for (;;) {
        int got = recvmmsg(fds[index], messages, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        /* One clock read per batch: every packet of it had arrived by then. */
        double now = monotonic_ms();
        for (int i = 0; i < got; i++) {
          record((int)index, buffers[i], messages[i].msg_len, now);
        }
        if (got < RECV_BATCH) break;
      }
    }
  }
  sink_collect();
  return 0;
}

int main(int argc, char **argv) {
  alarm(LIFETIME_SEC);
  if (argc >= 2 && strcmp(argv[1], "gen") == 0) return generator_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return sink_main(argc, argv);
  fprintf(stderr, "usage: rtp-load gen ... | rtp-load sink ...\n");
  return 2;
}
