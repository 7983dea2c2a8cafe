/* Placeholder test program: runs each model once on its embedded test input and prints the
 * outputs and the cycle/instruction count. The serial harness replaces this file.
 *
 * Output (one line each, space-separated):
 *   aotgen board=<name> models=<n>
 *   model <prefix> status=<run() return> count=<n> unit=<cycles | instructions (QEMU icount)>
 *   output <prefix> <c_name> <dtype> <n> <v0> <v1> ...   (float32 values as IEEE-754 hex bits)
 *   done failures=<models whose run() did not return 0>
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "console.h"
#include "platform.h"
#include "workspace.h"
{%- for m in cookiecutter._aotgen.models %}
#include "{{ m.prefix }}.h"
{%- endfor %}

/* The test inputs: numpy.random.default_rng(0), drawn model by model, input by input (integers
 * uniform over the dtype's range, floats uniform in [-1, 1)); also in test_data/*.npy. */
{%- for m in cookiecutter._aotgen.models %}
{%- for t in m.inputs %}
static const {{ t.c_type }} {{ m.prefix }}_test_{{ t.c_name }}[{{ t.size }}] __attribute__((aligned(16))) = {
{{ t.init }}
};
{%- endfor %}
{%- endfor %}
{% for m in cookiecutter._aotgen.models %}
static int run_{{ m.prefix }}(void) {
{%- for t in m.outputs %}
    static {{ t.c_type }} out_{{ t.c_name }}[{{ t.size }}] __attribute__((aligned(16)));
{%- endfor %}
    struct {{ m.prefix }}_inputs inputs = {
{%- for t in m.inputs %}
        .{{ t.c_name }} = {{ m.prefix }}_test_{{ t.c_name }},
{%- endfor %}
    };
    struct {{ m.prefix }}_outputs outputs = {
{%- for t in m.outputs %}
        .{{ t.c_name }} = out_{{ t.c_name }},
{%- endfor %}
    };
    uint32_t start = platform_cycles();
{%- if m.workspace_user %}
    int32_t status = {{ m.prefix }}_set_workspace(aotgen_workspace, sizeof aotgen_workspace);
    if (status == 0) status = {{ m.prefix }}_run(&inputs, &outputs);
{%- else %}
    int32_t status = {{ m.prefix }}_run(&inputs, &outputs);
{%- endif %}
    uint32_t count = platform_cycles() - start;

    console_puts("model {{ m.prefix }} status=");
    console_put_i32(status);
    console_puts(" count=");
    console_put_u64(count);
    console_puts(" unit=");
    console_puts(platform_cycles_unit());
    console_puts("\n");
{%- for t in m.outputs %}
    console_puts("output {{ m.prefix }} {{ t.c_name }} {{ t.dtype }} {{ t.size }}");
    for (uint32_t i = 0; i < {{ t.size }}u; i++) {
        console_puts(" ");
{%- if t.dtype == "float32" %}
        uint32_t bits;
        memcpy(&bits, &out_{{ t.c_name }}[i], sizeof bits);
        console_put_hex32(bits);
{%- elif t.dtype in ("uint32", "uint16", "uint8", "bool") %}
        console_put_u64((uint64_t)out_{{ t.c_name }}[i]);
{%- else %}
        console_put_i32((int32_t)out_{{ t.c_name }}[i]);
{%- endif %}
    }
    console_puts("\n");
{%- endfor %}
    return status != 0;
}
{% endfor %}
int main(void) {
    platform_init();
    console_puts("aotgen board={{ cookiecutter._aotgen.board.name }} models={{ cookiecutter._aotgen.models | length }}\n");
    int failures = 0;
{%- for m in cookiecutter._aotgen.models %}
    failures += run_{{ m.prefix }}();
{%- endfor %}
    console_puts("done failures=");
    console_put_i32(failures);
    console_puts("\n");
    platform_exit(failures ? 1 : 0);
}
