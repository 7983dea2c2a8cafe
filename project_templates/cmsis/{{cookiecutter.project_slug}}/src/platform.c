/* Platform layer for {{ cookiecutter._aotgen.board.name }}: console UART, cycle/instruction
 * counter, program exit. */
#include "platform.h"

#include "board.h"
#include "uart.h"

#if BOARD_COUNTER_IS_ICOUNT
/* SysTick on the processor clock, reloading every 2^24 ticks; the interrupt extends it to 64
 * bits. Under QEMU -icount shift=0 one instruction takes 1 ns of virtual time, so
 * ticks * 1e9 / f_clk is an instruction count (not a cycle count of the emulated core). */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

static void counter_init(void) {
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* enable, interrupt, processor clock */
    /* Enabling with CVR = 0 reloads it at once; QEMU counts that as a wrap (a pending SysTick
     * exception), which made a reading right after boot one wrap (0.67 s) ahead of later ones:
     * let the reload happen, then start from zero wraps. */
    while (SYST_CVR == 0u) {
    }
    SCB_ICSR = 1u << 25; /* PENDSTCLR */
    systick_wraps = 0;
}

static uint64_t counter_ticks(void) {
    uint32_t hi, cvr, pending;
    do {
        hi = systick_wraps;
        cvr = SYST_CVR;
        pending = SCB_ICSR & (1u << 26); /* PENDSTSET: wrapped, handler not yet run */
    } while (hi != systick_wraps);
    /* A pending wrap with a reloaded (high) CVR happened before CVR was read: count it. */
    if (pending && cvr > 0x007FFFFFu) hi++;
    return ((uint64_t)hi << 24) | (0x00FFFFFFu - cvr);
}

uint32_t platform_cycles(void) {
    return (uint32_t)(counter_ticks() * 1000000000ull / BOARD_COUNTER_HZ);
}

const char *platform_cycles_unit(void) { return "instructions (QEMU icount)"; }
#else
/* DWT CYCCNT counts core clock cycles; 64-bit extension by noticing wraps between readings
 * (read it at least once per 2^32 cycles, which the timeout loop does). */
static uint32_t dwt_last, dwt_wraps;

static void counter_init(void) {
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* unlock (Cortex-M7); ignored where there is no lock */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u; /* CYCCNTENA */
}

static uint64_t counter_ticks(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) dwt_wraps++;
    dwt_last = now;
    return ((uint64_t)dwt_wraps << 32) | now;
}

uint32_t platform_cycles(void) { return DWT_CYCCNT; }

const char *platform_cycles_unit(void) { return "cycles"; }
#endif

void platform_init(void) {
    counter_init();
    uart_init();
}

void platform_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) uart_putc(data[i]);
}

int platform_read_byte(uint32_t timeout_ms) {
    uint8_t c;
    uint64_t start = counter_ticks();
    uint64_t limit = (uint64_t)timeout_ms * (BOARD_COUNTER_HZ / 1000u);
    for (;;) {
        if (uart_getc_nonblocking(&c)) return c;
        if (counter_ticks() - start >= limit) return -1;
    }
}

void platform_exit(int code) {
#if BOARD_IS_QEMU
    /* Semihosting SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit: QEMU (run with
     * -semihosting-config enable=on) exits with `code`. */
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
    }
}
