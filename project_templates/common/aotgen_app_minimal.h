/* aotgen's minimal app: run each model of the project once on its sample input and print the
 * outputs and the count (aotgen_app_minimal.c, generated for the project's models). */
#ifndef AOTGEN_APP_MINIMAL_H
#define AOTGEN_APP_MINIMAL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints "<prefix>: status S, N cycles", each output's values, "exit S"; returns 0 if every
 * model's run returned 0, else 1. */
int aotgen_app_minimal(void);

#ifdef __cplusplus
}
#endif

#endif
