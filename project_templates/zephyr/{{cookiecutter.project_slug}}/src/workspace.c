/* The arena shared by the model libraries compiled with --workspace user (they run one after
 * another), sized for the largest. */
#include <stdint.h>
{%- if cookiecutter._aotgen.workspace_user_bytes %}
{%- if cookiecutter.arena_section %}

__attribute__((aligned(16), section("{{ cookiecutter.arena_section }}")))
uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}u];
{%- elif cookiecutter._aotgen.memory.models_in_dtcm %}

#include <zephyr/linker/section_tags.h>

/* In the DTCM (Zephyr's devicetree keeps it apart from sram0): it fits there. */
__dtcm_bss_section __attribute__((aligned(16)))
uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}u];
{%- else %}

__attribute__((aligned(16)))
uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}u];
{%- endif %}
{%- else %}

/* No library in this project uses --workspace user. */
typedef int aotgen_workspace_unused;
{%- endif %}
