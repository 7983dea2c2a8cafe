/* Console UART driver for {{ cookiecutter._aotgen.board.console.peripheral }} ({{ cookiecutter._aotgen.board.console.driver }}).
 * Register layouts from the vendor documentation, written by hand. */
#include "uart.h"

#include "board.h"
{% set c = cookiecutter._aotgen.board.console %}
{%- if c.driver == "cmsdk_uart" %}
/* Arm CMSDK APB UART (Cortex-M System Design Kit TRM, DDI 0479). */
#define UART_DATA REG32(CONSOLE_BASE + 0x00u)
#define UART_STATE REG32(CONSOLE_BASE + 0x04u) /* bit0 TX full, bit1 RX full */
#define UART_CTRL REG32(CONSOLE_BASE + 0x08u)  /* bit0 TX enable, bit1 RX enable */
#define UART_BAUDDIV REG32(CONSOLE_BASE + 0x10u)

void uart_init(void) {
    UART_BAUDDIV = CONSOLE_CLOCK_HZ / CONSOLE_BAUD;
    UART_CTRL = 0x3u;
}

void uart_putc(uint8_t c) {
    while (UART_STATE & 0x1u) {
    }
    UART_DATA = c;
}

int uart_getc_nonblocking(uint8_t *c) {
    if (!(UART_STATE & 0x2u)) return 0;
    *c = (uint8_t)UART_DATA;
    return 1;
}
{%- else %}
/* STM32 GPIO (reference manual, "GPIO registers"): the console pins go to alternate function AF. */
#define GPIO_PORT(n) (CONSOLE_GPIO_BASE + 0x400u * (n))
#define GPIO_MODER(p) REG32(GPIO_PORT(p) + 0x00u)
#define GPIO_OSPEEDR(p) REG32(GPIO_PORT(p) + 0x08u)
#define GPIO_AFR(p, pin) REG32(GPIO_PORT(p) + 0x20u + 4u * ((pin) / 8u))

static void pin_to_af(uint32_t port, uint32_t pin) {
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
    GPIO_OSPEEDR(port) |= 2u << (2u * pin);
    uint32_t shift = 4u * (pin % 8u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift)) | (CONSOLE_AF << shift);
}

static void clocks_and_pins(void) {
    /* Peripheral clock enables and power domains, from the board file's console.setup. */
{%- for s in c.setup %}
    REG32({{ s.reg }}u) |= {{ s.mask }}u; /* {{ s.what }} */
    (void)REG32({{ s.reg }}u);         /* read back: the enable takes effect before first use */
{%- endfor %}
    pin_to_af(CONSOLE_TX_PORT, CONSOLE_TX_PIN);
    pin_to_af(CONSOLE_RX_PORT, CONSOLE_RX_PIN);
}
{%- if c.driver == "stm32_usart_v1" %}
/* STM32F1/F2/F4 USART: SR, DR, BRR, CR1. */
#define USART_SR REG32(CONSOLE_BASE + 0x00u) /* bit5 RXNE, bit7 TXE */
#define USART_DR REG32(CONSOLE_BASE + 0x04u)
#define USART_BRR REG32(CONSOLE_BASE + 0x08u)
#define USART_CR1 REG32(CONSOLE_BASE + 0x0Cu) /* bit13 UE, bit3 TE, bit2 RE */

void uart_init(void) {
    clocks_and_pins();
    USART_BRR = (CONSOLE_CLOCK_HZ + CONSOLE_BAUD / 2u) / CONSOLE_BAUD; /* oversampling by 16 */
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2);
}

void uart_putc(uint8_t c) {
    while (!(USART_SR & (1u << 7))) {
    }
    USART_DR = c;
}

int uart_getc_nonblocking(uint8_t *c) {
    if (!(USART_SR & (1u << 5))) return 0;
    *c = (uint8_t)USART_DR;
    return 1;
}
{%- else %}
/* STM32F0/F3/F7/L4/G4 USART and LPUART: CR1, BRR, ISR, RDR, TDR. */
#define USART_CR1 REG32(CONSOLE_BASE + 0x00u) /* bit0 UE, bit2 RE, bit3 TE */
#define USART_BRR REG32(CONSOLE_BASE + 0x0Cu)
#define USART_ISR REG32(CONSOLE_BASE + 0x1Cu) /* bit5 RXNE, bit7 TXE */
#define USART_RDR REG32(CONSOLE_BASE + 0x24u)
#define USART_TDR REG32(CONSOLE_BASE + 0x28u)

void uart_init(void) {
    clocks_and_pins();
{%- if c.driver == "stm32_lpuart" %}
    /* LPUART: BRR = 256 * f_ck / baud (RM0432, LPUART baud rate generation). */
    USART_BRR = (uint32_t)(((uint64_t)CONSOLE_CLOCK_HZ * 256u + CONSOLE_BAUD / 2u) / CONSOLE_BAUD);
{%- else %}
    USART_BRR = (CONSOLE_CLOCK_HZ + CONSOLE_BAUD / 2u) / CONSOLE_BAUD; /* oversampling by 16 */
{%- endif %}
    USART_CR1 = (1u << 0) | (1u << 2) | (1u << 3);
}

void uart_putc(uint8_t c) {
    while (!(USART_ISR & (1u << 7))) {
    }
    USART_TDR = c;
}

int uart_getc_nonblocking(uint8_t *c) {
    if (!(USART_ISR & (1u << 5))) return 0;
    *c = (uint8_t)USART_RDR;
    return 1;
}
{%- endif %}
{%- endif %}
