{%- set app = cookiecutter._aotgen.app.name -%}
/* {% if app == "minimal" %}Your application starts here: src/aotgen_app_minimal.c gives each model its sample input,
 * runs it once and prints the outputs and the count on the console UART.
{%- elif app == "mlperf-tiny" %}MLPerf Tiny firmware: the MLCommons benchmark runner (or `aotgen mlperf <project>`) drives it
 * over the console UART with text commands; src/aotgen_mlperf.c answers them (docs/mlperf.md in aotgen).
{%- else %}aotgen's serial harness: the model table is served over the console UART; `aotgen test` drives
 * it (docs/harness-protocol.md in aotgen).
{%- endif %} src/harness_port.c is the platform port. */
#include <zephyr/device.h>

{% if app == "minimal" -%}
#include "aotgen_app_minimal.h"
{%- elif app == "mlperf-tiny" -%}
#include "aotgen_mlperf.h"
{%- else -%}
#include "aotgen_harness.h"
{%- endif %}

extern const struct device *const aotgen_console_uart;

int main(void) {
    if (!device_is_ready(aotgen_console_uart)) {
        return 0;
    }
{%- if app == "minimal" %}
    return aotgen_app_minimal();
{%- elif app == "mlperf-tiny" %}
    aotgen_mlperf_serve();
    return 0;
{%- else %}
    harness_serve(aotgen_models, aotgen_model_count);
    return 0;
{%- endif %}
}
