/* The platform layer: everything board-specific that a test program needs. main.c is a
 * placeholder that the serial harness replaces; these files stay. */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stddef.h>
#include <stdint.h>

void platform_init(void);
/* One byte from the console, or -1 after timeout_ms (0 = poll once). */
int platform_read_byte(uint32_t timeout_ms);
void platform_write(const uint8_t *data, size_t len);
/* Free-running counter, 32-bit wrapping (subtract two readings). Counts core cycles on real
 * hardware (DWT CYCCNT) and instructions on QEMU boards (SysTick under -icount shift=0). */
uint32_t platform_cycles(void);
/* What platform_cycles() counts: "cycles" or "instructions (QEMU icount)". */
const char *platform_cycles_unit(void);
/* Ends the program: a clean QEMU exit with `code` (semihosting); loops on real hardware. */
void platform_exit(int code) __attribute__((noreturn));

#endif
