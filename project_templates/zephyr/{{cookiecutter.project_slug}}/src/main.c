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
#define AOTGEN_COUNT_SCALE (1000000000u / {{ cookiecutter._aotgen.board.counter_hz }}u)
{%- else %}
/* Real board: k_cycle_get_32() counts the system timer's hardware cycles (the core clock with
 * the Cortex-M SysTick driver). */
const uint8_t harness_cycles_are_instructions = 0;
#define AOTGEN_COUNT_SCALE 1u
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

uint32_t harness_cycles(void) { return k_cycle_get_32() * AOTGEN_COUNT_SCALE; }

int main(void) {
    if (!device_is_ready(console_uart)) {
        return 0;
    }
    harness_serve(aotgen_models, aotgen_model_count);
    return 0;
}
