/* Arduino glue of aotgen's serial harness: Serial as the line, a cycle counter. */
#ifndef HARNESS_PORT_H
#define HARNESS_PORT_H

#include <stdint.h>

/* Opens Serial, starts the cycle counter and sends the READY banner. */
void harness_port_begin(uint32_t baud);
/* Answers the host's requests for a while; call it from loop(). */
void harness_port_poll(void);

#endif
