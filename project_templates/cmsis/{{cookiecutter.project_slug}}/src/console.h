/* Tiny text output over platform_write (no printf: newlib-nano's lacks 64-bit and float). */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdint.h>

void console_puts(const char *s);
void console_put_u64(uint64_t v);
void console_put_i32(int32_t v);
void console_put_hex32(uint32_t v);

#endif
