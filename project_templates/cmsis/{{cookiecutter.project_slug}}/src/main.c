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
