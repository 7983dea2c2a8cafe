/* The arena shared by the model libraries compiled with --workspace user (they run one after
 * another), sized for the largest. */
#include <stdint.h>
{%- if cookiecutter._aotgen.workspace_user_bytes %}

__attribute__((aligned(16){% if cookiecutter.arena_section %}, section("{{ cookiecutter.arena_section }}"){% endif %}))
uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}u];
{%- else %}

/* No library in this project uses --workspace user. */
typedef int aotgen_workspace_unused;
{%- endif %}
