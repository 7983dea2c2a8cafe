/* The arena shared by the model libraries compiled with --workspace user (they run one after
 * another), sized for the largest; in the DTCM when the board has one and it fits. */
#ifndef WORKSPACE_H
#define WORKSPACE_H

#include <stdint.h>

#define AOTGEN_WORKSPACE_BYTES {{ cookiecutter._aotgen.workspace_user_bytes }}u
{%- if cookiecutter._aotgen.workspace_user_bytes %}
extern uint8_t aotgen_workspace[AOTGEN_WORKSPACE_BYTES];
{%- endif %}

#endif
