/* The serial harness's platform hooks (docs/harness-protocol.md, aotgen_harness.h) on top of
 * platform.h. Unused (and dropped by --gc-sections) until the harness files are in the project;
 * the header is included when present so the declarations are checked against it. */
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
