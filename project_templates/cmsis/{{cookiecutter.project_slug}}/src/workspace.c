#include "workspace.h"
{%- if cookiecutter._aotgen.workspace_user_bytes %}

__attribute__((aligned(16), section(".bss.aotgen_workspace")))
uint8_t aotgen_workspace[AOTGEN_WORKSPACE_BYTES];
{%- else %}

/* No library in this project uses --workspace user. */
typedef int aotgen_workspace_unused;
{%- endif %}
