/* A host "board" for the serial harness: the platform interface over a TCP socket (POSIX), so
 * the real device-side C and a generated model table run on the build machine. Used by the
 * protocol tests and for debugging the host side without hardware.
 *
 * Usage: harness_host [port [max_seconds]]. Listens on 127.0.0.1:port (0 = any free port),
 * prints "port N" on stdout, serves one connection like QEMU's `-serial tcp:...,server=on`
 * would, and exits when the host disconnects or after max_seconds (default 120) in any case. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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
    ssize_t n = recv(g_fd, &c, 1, 0);
    if (n <= 0) exit(0); /* the host hung up: this "board" is done */
    return c;
}

void harness_write(const uint8_t *data, size_t len) {
    while (len) {
        ssize_t n = send(g_fd, data, len, MSG_NOSIGNAL);
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

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    unsigned max_seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 120u;
    alarm(max_seconds); /* never outlive a test run, whatever the host does */

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
    harness_serve(aotgen_models, aotgen_model_count);
    return 0;
}
