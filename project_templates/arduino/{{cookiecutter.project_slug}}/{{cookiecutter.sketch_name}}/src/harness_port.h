/* Arduino glue of aotgen's apps: Serial as the line, a cycle counter (src/harness_port.cpp). */
#ifndef HARNESS_PORT_H
#define HARNESS_PORT_H

#include <stdint.h>

/* Opens Serial and starts the cycle counter. */
void harness_port_begin(uint32_t baud);

#endif
