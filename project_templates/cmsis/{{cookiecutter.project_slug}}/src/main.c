{%- set app = cookiecutter._aotgen.app.name -%}
{%- if app == "minimal" -%}
/* Your application starts here: src/aotgen_app_minimal.c gives each model its sample input, runs
 * it once and prints the outputs and the count on the console UART; the program then exits with
 * that status (QEMU boards: QEMU exits with it). platform.h has the board's functions. */
#include "aotgen_app_minimal.h"
#include "platform.h"

int main(void) {
    platform_init();
    platform_exit(aotgen_app_minimal());
}
{%- elif app == "mlperf-tiny" -%}
/* MLPerf Tiny firmware: the MLCommons benchmark runner (or `aotgen mlperf <project>`) drives it
 * over the console UART with text commands; src/aotgen_mlperf.c answers them. Protocol and how
 * to run the official runner: docs/mlperf.md in aotgen. */
#include "aotgen_mlperf.h"
#include "platform.h"

int main(void) {
    platform_init();
    aotgen_mlperf_serve();
    return 0;
}
{%- else -%}
/* The test program: aotgen's serial harness. It announces the models on the console UART, then
 * answers the host's requests (set inputs, run, read outputs and the cycle/instruction count)
 * forever; `aotgen test <project>` drives it. The protocol: docs/harness-protocol.md in aotgen.
 * src/aotgen_harness.[ch] and the model table src/aotgen_models.c are added by the generator;
 * src/harness_port.c implements the harness's platform hooks over platform.h. */
#include "aotgen_harness.h"
#include "platform.h"

int main(void) {
    platform_init();
    harness_serve(aotgen_models, aotgen_model_count);
    return 0;
}
{%- endif %}
