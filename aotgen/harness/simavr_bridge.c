/* aotgen's simavr bridge: run an AVR ELF in simavr with UART0 on a pseudo-terminal.
 *
 *   simavr_bridge MCU FREQ_HZ FIRMWARE.elf
 *
 * Prints "PTY <path>" on stdout once the firmware is loaded; the host opens that path with
 * pyserial and talks to the firmware's UART0. Host bytes are fed into the simulated UART through
 * its INPUT IRQ, only while the UART signals XON (its input FIFO has room), so nothing is
 * dropped however fast the host writes. On exit (the firmware ends with `cli; sleep`, crashes,
 * or SIGTERM/SIGINT/SIGHUP arrives) it prints "EXIT <state> cycles=<n>": the exact number of
 * simulated AVR cycles.
 *
 * Built by aotgen on first use (aotgen/harness/simavr.py):
 *   gcc -O2 -I/usr/include/simavr simavr_bridge.c -lsimavr -lutil
 * Needs libsimavr-dev (Debian). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

/* Cycles simulated between two looks at the pty (~0.1 ms of a 16 MHz AVR). */
#define SLICE_CYCLES 2000u

static volatile sig_atomic_t g_stop;
static int g_master = -1;
static int g_xon;
static avr_irq_t *g_input;

static uint8_t g_in[4096];   /* host -> AVR bytes not yet accepted by the UART */
static size_t g_in_head, g_in_len;
static uint8_t g_out[4096];  /* AVR -> host bytes not yet written to the pty */
static size_t g_out_len;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void flush_out(void) {
    size_t done = 0;
    while (done < g_out_len) {
        ssize_t n = write(g_master, g_out + done, g_out_len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {g_master, POLLOUT, 0};
            if (poll(&p, 1, 1000) <= 0) break; /* nobody reads: drop rather than hang */
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    g_out_len = 0;
}

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    if (g_out_len == sizeof g_out) flush_out();
    g_out[g_out_len++] = (uint8_t)value;
}

static void feed(void) {
    while (g_xon && g_in_len) {
        uint8_t byte = g_in[g_in_head];
        g_in_head = (g_in_head + 1) % sizeof g_in;
        g_in_len--;
        avr_raise_irq(g_input, byte); /* may signal XOFF (FIFO full) synchronously */
    }
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    g_xon = 1;
    feed();
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    g_xon = 0;
}

static void read_host(void) {
    while (g_in_len < sizeof g_in) {
        size_t tail = (g_in_head + g_in_len) % sizeof g_in;
        size_t room = sizeof g_in - g_in_len;
        if (tail + room > sizeof g_in) room = sizeof g_in - tail;
        ssize_t n = read(g_master, g_in + tail, room);
        if (n <= 0) break; /* EAGAIN: nothing more now; EIO: host closed (the slave stays open) */
        g_in_len += (size_t)n;
    }
}

static const char *state_name(int state) {
    switch (state) {
    case cpu_Done: return "done";
    case cpu_Crashed: return "crashed";
    default: return "stopped";
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MCU FREQ_HZ FIRMWARE.elf\n", argv[0]);
        return 2;
    }
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[3], &fw) != 0) {
        fprintf(stderr, "simavr_bridge: cannot read %s\n", argv[3]);
        return 2;
    }
    avr_t *avr = avr_make_mcu_by_name(argv[1]);
    if (!avr) {
        fprintf(stderr, "simavr_bridge: simavr does not know the MCU '%s'\n", argv[1]);
        return 2;
    }
    avr_init(avr);
    fw.frequency = (uint32_t)strtoul(argv[2], NULL, 10);
    avr_load_firmware(avr, &fw);
    avr->log = 0;

    int slave = -1;
    if (openpty(&g_master, &slave, NULL, NULL, NULL) != 0) {
        perror("simavr_bridge: openpty");
        return 2;
    }
    struct termios tio;
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(g_master, F_SETFL, fcntl(g_master, F_GETFL) | O_NONBLOCK);

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    g_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("PTY %s\n", ttyname(slave));
    fflush(stdout);

    int state = cpu_Running;
    while (!g_stop) {
        avr_cycle_count_t until = avr->cycle + SLICE_CYCLES;
        while (avr->cycle < until) {
            state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) break;
        }
        if (g_out_len) flush_out();
        if (state == cpu_Done || state == cpu_Crashed) break;
        read_host();
        feed();
    }
    flush_out();
    printf("EXIT %s cycles=%llu\n", g_stop ? "signal" : state_name(state), (unsigned long long)avr->cycle);
    fflush(stdout);
    avr_terminate(avr);
    close(slave);
    close(g_master);
    return state == cpu_Crashed ? 1 : 0;
}
