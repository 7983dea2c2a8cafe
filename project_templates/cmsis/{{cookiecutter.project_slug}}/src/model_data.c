#include "model_data.h"
{% for m in cookiecutter._aotgen.models %}
{%- for t in m.inputs %}
__attribute__((aligned(16))) const {{ t.c_type }} {{ m.prefix }}_test_{{ t.c_name }}[{{ t.size }}] = {
{{ t.init }}
};
{%- endfor %}
{%- endfor %}
{%- if cookiecutter._aotgen.workspace_user_bytes %}

__attribute__((aligned(16), section(".bss.aotgen_workspace")))
uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}];
{%- endif %}
