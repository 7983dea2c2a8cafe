/* Startup code and vector table for {{ cookiecutter._aotgen.board.cpu }}: enable the FPU, copy
 * .data, zero .bss, call main. Only the exceptions the firmware uses have handlers. */
#include <stdint.h>
#include <string.h>

#include "board.h"

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
{%- if cookiecutter._aotgen.memory.models_in_dtcm %}
extern uint32_t _sdtcm_bss, _edtcm_bss;
{%- endif %}
extern int main(void);
void Reset_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

void Default_Handler(void) {
    /* Unexpected exception (HardFault, ...): stop here; a debugger shows where. */
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&_estack, /* initial stack pointer */
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    Default_Handler, /* SecureFault (Armv8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

{%- if cookiecutter._aotgen.board.cpu == "cortex-m7" %}
/* Cortex-M7: the caches are off after reset; cycle counts without them say little. Invalidate,
 * then enable (Cortex-M7 TRM, "Initializing and enabling the L1 cache"). */
#define SCB_CCR REG32(0xE000ED14u)
#define SCB_CCSIDR REG32(0xE000ED80u)
#define SCB_CSSELR REG32(0xE000ED84u)
#define SCB_ICIALLU REG32(0xE000EF50u)
#define SCB_DCISW REG32(0xE000EF60u)

static void enable_caches(void) {
    __asm__ volatile("dsb\nisb" ::: "memory");
    SCB_ICIALLU = 0u;
    SCB_CSSELR = 0u; /* level 1 data cache */
    __asm__ volatile("dsb" ::: "memory");
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u, ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    for (uint32_t set = 0; set < sets; set++)
        for (uint32_t way = 0; way < ways; way++) SCB_DCISW = (way << 30) | (set << 5);
    __asm__ volatile("dsb" ::: "memory");
    SCB_CCR |= (1u << 17) | (1u << 16); /* IC, DC */
    __asm__ volatile("dsb\nisb" ::: "memory");
}

{%- endif %}
__attribute__((noreturn, used)) static void reset_c(void) {
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
{%- if cookiecutter._aotgen.memory.models_in_dtcm %}
    memset(&_sdtcm_bss, 0, (size_t)((char *)&_edtcm_bss - (char *)&_sdtcm_bss));
{%- endif %}
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
{%- if cookiecutter._aotgen.board.cpu == "cortex-m7" %}
    enable_caches();
{%- endif %}
    main();
    for (;;) {
    }
}

/* Naked so that no compiler-generated code (which may use FP registers) runs before the FPU
 * is enabled: with hard float, the first FPU instruction HardFaults while CPACR is 0. */
__attribute__((naked, noreturn)) void Reset_Handler(void) {
    __asm__ volatile(
#if BOARD_HAS_FPU
        "ldr r0, =0xE000ED88\n"  /* CPACR */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n" /* CP10, CP11 full access */
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
#endif
        "b reset_c\n");
}
