/* A host "board" for the serial harness: the platform interface over a TCP socket (POSIX), so
 * the real device-side C and a generated model table run on the build machine. Used by the
 * protocol tests and for debugging the host side without hardware; built with
 * -DAOTGEN_HOST_APP_MLPERF it serves the MLPerf Tiny app instead (aotgen_mlperf.c).
 *
 * Usage: harness_host [port|pty [max_seconds]]. With a port: listens on 127.0.0.1:port (0 = any
 * free port), prints "port N" on stdout and serves one connection like QEMU's
 * `-serial tcp:...,server=on` would, exiting when the host disconnects. With "pty": creates a
 * pseudo-terminal, prints "pty /dev/pts/N" and serves it like a board's USB serial port. Exits
 * after max_seconds (default 120) in any case. */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "aotgen_harness.h"

static int g_fd = -1;

const uint8_t harness_cycles_are_instructions = 0;

int harness_read_byte(uint32_t timeout_ms) {
    struct pollfd p = {g_fd, POLLIN, 0};
    int r;
    do {
        r = poll(&p, 1, (int)timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
    uint8_t c;
    ssize_t n = read(g_fd, &c, 1);
    if (n <= 0) exit(0); /* the host hung up: this "board" is done */
    return c;
}

void harness_write(const uint8_t *data, size_t len) {
    while (len) {
        ssize_t n = write(g_fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) exit(0);
        data += n;
        len -= (size_t)n;
    }
}

uint32_t harness_cycles(void) {
    /* Nanoseconds: the host has no portable cycle counter; close enough for a smoke test. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint32_t harness_cycles_hz(void) { return 1000000000u; }

/* No pin on the host: each level change is a line on stderr ("timestamp-pin 0"), for tests. */
void harness_timestamp_pin(int level) { fprintf(stderr, "timestamp-pin %d\n", level ? 1 : 0); }

/* What main runs: the harness, or (built with -DAOTGEN_HOST_APP_MLPERF) the MLPerf Tiny app. */
#if defined(AOTGEN_HOST_APP_MLPERF)
#include "aotgen_mlperf.h"
static void serve(void) { aotgen_mlperf_serve(); }
#else
static void serve(void) { harness_serve(aotgen_models, aotgen_model_count); }
#endif

/* A pty whose slave end is raw (binary-clean) and held open, so bytes written before the host
 * opens it wait in the queue, as on a USB CDC port. */
static int serve_pty(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
        perror("harness_host: pty");
        return 2;
    }
    const char *path = ptsname(m);
    int s = open(path, O_RDWR | O_NOCTTY);
    struct termios t;
    if (s < 0 || tcgetattr(s, &t) != 0) {
        perror("harness_host: pty slave");
        return 2;
    }
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    printf("pty %s\n", path);
    fflush(stdout);
    g_fd = m;
    serve();
    return 0;
}

int main(int argc, char **argv) {
    unsigned max_seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 120u;
    alarm(max_seconds); /* never outlive a test run, whatever the host does */
    signal(SIGPIPE, SIG_IGN); /* a vanished host shows as a write error: exit(0) above */
    if (argc > 1 && strcmp(argv[1], "pty") == 0) return serve_pty();
    int port = argc > 1 ? atoi(argv[1]) : 0;

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t alen = sizeof a;
    if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv, 1) != 0 ||
        getsockname(srv, (struct sockaddr *)&a, &alen) != 0) {
        perror("harness_host: listen");
        return 2;
    }
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    g_fd = accept(srv, NULL, NULL);
    if (g_fd < 0) {
        perror("harness_host: accept");
        return 2;
    }
    close(srv);
    setsockopt(g_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    serve();
    return 0;
}
