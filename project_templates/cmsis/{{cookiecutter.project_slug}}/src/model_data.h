/* Test inputs embedded by aotgen (numpy.random.default_rng(0); also saved as .npy files in test_data/). */
#ifndef MODEL_DATA_H
#define MODEL_DATA_H

#include <stdbool.h>
#include <stdint.h>
{% for m in cookiecutter._aotgen.models %}
{%- for t in m.inputs %}
extern const {{ t.c_type }} {{ m.prefix }}_test_{{ t.c_name }}[{{ t.size }}];
{%- endfor %}
{%- endfor %}
{%- if cookiecutter._aotgen.workspace_user_bytes %}

/* One arena shared by the models compiled with --workspace user (they run one after another). */
extern uint8_t aotgen_workspace[{{ cookiecutter._aotgen.workspace_user_bytes }}];
{%- endif %}

#endif
