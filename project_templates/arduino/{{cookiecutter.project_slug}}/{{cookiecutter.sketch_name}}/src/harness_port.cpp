/* The platform port of aotgen's apps (aotgen_harness.h: the serial harness, the minimal app, the
 * MLPerf Tiny app) on the Arduino core: bytes over
 * Serial, timeouts from millis(), and a core-cycle counter:
 *   AVR (ATmega):        Timer1 at the CPU clock (no prescaler) extended to 32 bits by its
 *                        overflow interrupt. Exact cycles, on a real board and in simavr. Timer1
 *                        is taken from the core (PWM on its pins is not available).
 *   Arm Cortex-M3/M4/M7: DWT CYCCNT.
 *   anything else:       micros() x (F_CPU / 1 MHz), a coarse estimate. */
#include <Arduino.h>

#include "harness_port.h"

extern "C" {
#include "aotgen_harness.h"
}

extern "C" const uint8_t harness_cycles_are_instructions = 0;

#if defined(__AVR__)
static volatile uint16_t g_t1_overflows;

ISR(TIMER1_OVF_vect) { g_t1_overflows++; }

static void counter_begin(void) {
    uint8_t sreg = SREG;
    cli();
    TCCR1A = 0;
    TCCR1B = 0;
    TCCR1C = 0;
    TCNT1 = 0;
    TIFR1 = _BV(TOV1);
    TIMSK1 = _BV(TOIE1);
    TCCR1B = _BV(CS10); /* clk/1 */
    SREG = sreg;
}

extern "C" uint32_t harness_cycles(void) {
    uint8_t sreg = SREG;
    cli();
    uint16_t lo = TCNT1;
    uint16_t hi = g_t1_overflows;
    /* An overflow pending but not yet serviced belongs to this reading if TCNT1 wrapped. */
    if ((TIFR1 & _BV(TOV1)) && lo < 0x8000u) hi++;
    SREG = sreg;
    return ((uint32_t)hi << 16) | lo;
}
#elif defined(__arm__)
#define AOTGEN_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define AOTGEN_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define AOTGEN_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define AOTGEN_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static void counter_begin(void) {
    AOTGEN_DEMCR |= 1u << 24; /* TRCENA */
#if defined(STM32F7xx) || defined(STM32H7xx)
    AOTGEN_DWT_LAR = 0xC5ACCE55u; /* Cortex-M7: unlock the DWT */
#endif
    AOTGEN_DWT_CYCCNT = 0;
    AOTGEN_DWT_CTRL |= 1u; /* CYCCNTENA */
}

extern "C" uint32_t harness_cycles(void) { return AOTGEN_DWT_CYCCNT; }
#else
static void counter_begin(void) {}

extern "C" uint32_t harness_cycles(void) { return (uint32_t)micros() * (uint32_t)(F_CPU / 1000000UL); }
#endif

extern "C" int harness_read_byte(uint32_t timeout_ms) {
    uint32_t start = millis();
    for (;;) {
        int c = Serial.read();
        if (c >= 0) return c;
        if ((uint32_t)(millis() - start) >= timeout_ms) return -1;
    }
}

extern "C" void harness_write(const uint8_t *data, size_t len) { Serial.write(data, len); }

extern "C" uint32_t harness_cycles_hz(void) { return (uint32_t)F_CPU; }
{%- set t = cookiecutter._aotgen.board.timestamp_pin %}

/* The timestamp pin (MLPerf Tiny energy mode){{ ": " ~ t.what if t else ": the board file names none" }}. */
extern "C" void harness_timestamp_pin(int level) {
{%- if t %}
    volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t){{ t.reg }}u;
    static bool ready;
    if (!ready) {
{%- for s in t.setup %}
        *(volatile uint32_t *)(uintptr_t){{ s.reg }}u |= {{ s.mask }}u; /* {{ s.what }} */
{%- endfor %}
        ready = true;
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

void harness_port_begin(uint32_t baud) {
    Serial.begin(baud);
    while (!Serial) {
        /* USB CDC boards: wait for the host to open the port */
    }
    counter_begin();
}
