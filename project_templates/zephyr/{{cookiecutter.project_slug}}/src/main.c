/* aotgen's serial harness on Zephyr: the model table is served over the console UART (the
 * devicetree's zephyr,console, polled), timed with k_cycle_get_32(). Protocol: aotgen's
 * docs/harness-protocol.md; `aotgen test` drives it. */
#include <zephyr/device.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/kernel.h>

#include "aotgen_harness.h"

static const struct device *const console_uart = DEVICE_DT_GET(DT_CHOSEN(zephyr_console));
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
        if (uart_poll_in(console_uart, &c) == 0) return c;
        if ((uint32_t)(k_uptime_get_32() - start) >= timeout_ms) return -1;
    }
}

void harness_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) uart_poll_out(console_uart, data[i]);
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

int main(void) {
    if (!device_is_ready(console_uart)) {
        return 0;
    }
    harness_serve(aotgen_models, aotgen_model_count);
    return 0;
}
