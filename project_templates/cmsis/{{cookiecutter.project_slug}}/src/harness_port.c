/* The platform port that aotgen's apps (the serial harness, the minimal app, the MLPerf Tiny app;
 * aotgen_harness.h) run on, implemented over platform.h. Unused parts are dropped by
 * --gc-sections; the header is included when present so the declarations are checked against it. */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "platform.h"
#if defined(__has_include)
#if __has_include("aotgen_harness.h")
#include "aotgen_harness.h"
#endif
#endif

const uint8_t harness_cycles_are_instructions = BOARD_COUNTER_IS_ICOUNT;

int harness_read_byte(uint32_t timeout_ms) { return platform_read_byte(timeout_ms); }

void harness_write(const uint8_t *data, size_t len) { platform_write(data, len); }

uint32_t harness_cycles(void) { return platform_cycles(); }

/* QEMU boards: platform_cycles() counts instructions, 1 ns of virtual time each. */
uint32_t harness_cycles_hz(void) { return BOARD_COUNTER_IS_ICOUNT ? 1000000000u : BOARD_COUNTER_HZ; }

void harness_timestamp_pin(int level) {
#if BOARD_HAS_TIMESTAMP_PIN
    static int ready;
    if (!ready) {
        BOARD_TIMESTAMP_PIN_SETUP();
        ready = 1;
    }
    if (level) {
        REG32(BOARD_TIMESTAMP_PIN_REG) |= BOARD_TIMESTAMP_PIN_MASK;
    } else {
        REG32(BOARD_TIMESTAMP_PIN_REG) &= ~BOARD_TIMESTAMP_PIN_MASK;
    }
#else
    (void)level; /* the board file names no timestamp pin */
#endif
}
