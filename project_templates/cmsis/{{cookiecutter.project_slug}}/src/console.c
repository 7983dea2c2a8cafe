#include "console.h"

#include <string.h>

#include "platform.h"

void console_puts(const char *s) { platform_write((const uint8_t *)s, strlen(s)); }

void console_put_u64(uint64_t v) {
    char buf[21];
    int i = sizeof buf;
    buf[--i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    console_puts(&buf[i]);
}

void console_put_i32(int32_t v) {
    if (v < 0) {
        console_puts("-");
        console_put_u64((uint64_t)(-(int64_t)v));
    } else {
        console_put_u64((uint64_t)v);
    }
}

void console_put_hex32(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) buf[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    buf[10] = '\0';
    console_puts(buf);
}
