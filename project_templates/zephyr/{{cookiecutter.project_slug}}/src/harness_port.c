/* The platform port aotgen's apps run on (aotgen_harness.h: the serial harness, the minimal app,
 * the MLPerf Tiny app) on Zephyr: bytes over the console UART (the devicetree's zephyr,console,
 * polled), time from k_cycle_get_32(). */
#include <zephyr/device.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/kernel.h>

#include "aotgen_harness.h"

const struct device *const aotgen_console_uart = DEVICE_DT_GET(DT_CHOSEN(zephyr_console));
{% if cookiecutter._aotgen.board.cycle_counter == "systick_icount" %}
/* QEMU board: under -icount shift=0 the SysTick that k_cycle_get_32() reads ticks at
 * {{ cookiecutter._aotgen.board.counter_hz }} Hz of virtual time, 1 ns per instruction: counts are instructions. */
const uint8_t harness_cycles_are_instructions = 1;
#define AOTGEN_ICOUNT_HZ {{ cookiecutter._aotgen.board.counter_hz }}ull
{%- else %}
/* Real board: k_cycle_get_32() counts the system timer's hardware cycles (the core clock with
 * the Cortex-M SysTick driver). */
const uint8_t harness_cycles_are_instructions = 0;
{%- endif %}

int harness_read_byte(uint32_t timeout_ms) {
    uint32_t start = k_uptime_get_32();
    unsigned char c;
    for (;;) {
        if (uart_poll_in(aotgen_console_uart, &c) == 0) return c;
        if ((uint32_t)(k_uptime_get_32() - start) >= timeout_ms) return -1;
    }
}

void harness_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) uart_poll_out(aotgen_console_uart, data[i]);
}

uint32_t harness_cycles(void) {
#if defined(AOTGEN_ICOUNT_HZ)
    /* ticks -> ns of virtual time = instructions. The tick count is extended to 64 bits here
     * (readings come at least every 2^32 ticks: around each run), so a clock that does not
     * divide 1 GHz (e.g. 32 MHz) converts exactly and the 32-bit result still wraps evenly. */
    static uint32_t last;
    static uint64_t ticks;
    uint32_t now = k_cycle_get_32();
    ticks += (uint32_t)(now - last);
    last = now;
    return (uint32_t)(ticks * 1000000000ull / AOTGEN_ICOUNT_HZ);
#else
    return k_cycle_get_32();
#endif
}

uint32_t harness_cycles_hz(void) {
#if defined(AOTGEN_ICOUNT_HZ)
    return 1000000000u; /* harness_cycles() counts instructions: 1 ns of virtual time each */
#else
    return (uint32_t)sys_clock_hw_cycles_per_sec();
#endif
}
{%- set t = cookiecutter._aotgen.board.timestamp_pin %}

/* The timestamp pin (MLPerf Tiny energy mode){{ ": " ~ t.what if t else ": the board file names none" }}. */
void harness_timestamp_pin(int level) {
{%- if t %}
    volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t){{ t.reg }}u;
    static int ready;
    if (!ready) {
{%- for s in t.setup %}
        *(volatile uint32_t *)(uintptr_t){{ s.reg }}u |= {{ s.mask }}u; /* {{ s.what }} */
{%- endfor %}
        ready = 1;
    }
    if (level) {
        *reg |= {{ t.mask }}u;
    } else {
        *reg &= ~{{ t.mask }}u;
    }
{%- else %}
    (void)level;
{%- endif %}
}
