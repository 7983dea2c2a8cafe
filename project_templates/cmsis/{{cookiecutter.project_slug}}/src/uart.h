#ifndef UART_H
#define UART_H

#include <stdint.h>

void uart_init(void);
void uart_putc(uint8_t c);
/* 1 and the byte in *c if one has arrived, else 0 (never blocks). */
int uart_getc_nonblocking(uint8_t *c);

#endif
