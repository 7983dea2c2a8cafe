/* aotgen serial harness, device side: answers the host's requests (set inputs, run, read
 * outputs) over one serial line. Protocol: docs/harness-protocol.md in the aotgen repository.
 *
 * Plain C99, no malloc, no stdio. Every template compiles this file pair and implements the
 * four platform items below; aotgen generates the model table (aotgen_models.c). */
#ifndef AOTGEN_HARNESS_H
#define AOTGEN_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define HARNESS_PROTOCOL_VERSION 2u

/* Largest request payload the device accepts: its RX buffer is this + 8 bytes. */
#ifndef HARNESS_MAX_PAYLOAD
#define HARNESS_MAX_PAYLOAD 256u
#endif
/* A frame whose next byte does not arrive within this many ms is dropped (ERROR TIMEOUT). */
#ifndef HARNESS_BYTE_TIMEOUT_MS
#define HARNESS_BYTE_TIMEOUT_MS 100u
#endif

/* Frame types. */
enum {
    HARNESS_HELLO = 0x01,
    HARNESS_SET_INPUT = 0x02,
    HARNESS_RUN = 0x03,
    HARNESS_GET_OUTPUT = 0x04,
    HARNESS_READY = 0x80,
    HARNESS_ACK = 0x81,
    HARNESS_RESULT = 0x83,
    HARNESS_OUTPUT = 0x84,
    HARNESS_ERROR = 0xEE
};

/* ERROR codes. */
enum {
    HARNESS_E_BAD_CRC = 1,
    HARNESS_E_TIMEOUT = 2,
    HARNESS_E_BAD_LENGTH = 3,
    HARNESS_E_UNKNOWN_TYPE = 4,
    HARNESS_E_BAD_MODEL = 5,
    HARNESS_E_BAD_TENSOR = 6,
    HARNESS_E_OUT_OF_RANGE = 7,
    HARNESS_E_BAD_PAYLOAD = 8
};

/* One input or output tensor: a static buffer, or (data NULL) a buffer the library owns inside
 * its arena (compiled with io_in_arena), found through its accessor. */
typedef struct {
    uint8_t *data;
    uint32_t size; /* bytes */
    uint8_t *(*buffer)(void);
} harness_tensor_t;

/* One model in the firmware. run() builds the <prefix>_inputs/_outputs structs over the
 * tensor buffers and returns what <prefix>_run returned. */
typedef struct {
    const char *name; /* the library's C prefix */
    uint8_t n_inputs;
    uint8_t n_outputs;
    const harness_tensor_t *inputs;
    const harness_tensor_t *outputs;
    int32_t (*run)(void);
} harness_model_t;

/* ---- Platform interface: implemented by each template. ---- */

/* One byte from the serial line, or -1 if none arrives within timeout_ms. */
int harness_read_byte(uint32_t timeout_ms);
/* Write bytes to the serial line (blocking until accepted). */
void harness_write(const uint8_t *data, size_t len);
/* Free-running 32-bit counter; the harness subtracts two readings around one run(). */
uint32_t harness_cycles(void);
/* 1: harness_cycles() counts instructions (QEMU -icount), 0: core clock cycles. */
extern const uint8_t harness_cycles_are_instructions;

/* Used by the other firmware apps (aotgen_mlperf.c), not by the harness itself:
 * the rate harness_cycles() counts at, in Hz (1e9 where it counts QEMU instructions, 1 ns each), */
uint32_t harness_cycles_hz(void);
/* and the board's timestamp GPIO (MLPerf Tiny energy mode): 0 drives it low, 1 high. A board
 * without one (no `timestamp_pin` in its board file) ignores the call. */
void harness_timestamp_pin(int level);

/* ---- The generated model table (aotgen_models.c). ---- */
extern const harness_model_t aotgen_models[];
extern const uint8_t aotgen_model_count;
/* What the firmware was built from (a digest of aotgen's version and the model libraries). */
#define AOTGEN_FIRMWARE_ID_SIZE 16u
extern const uint8_t aotgen_firmware_id[AOTGEN_FIRMWARE_ID_SIZE];

/* ---- Harness API. ---- */

/* Use this model table from now on. */
void harness_init(const harness_model_t *models, uint8_t count);
/* Send the READY banner with the given sequence number (0 = unsolicited). */
void harness_send_ready(uint8_t seq);
/* Wait up to wait_ms for a frame and answer it. Returns 1 if input arrived, 0 if the line
 * stayed idle. */
int harness_poll(uint32_t wait_ms);
/* harness_init, READY, then harness_poll forever. */
void harness_serve(const harness_model_t *models, uint8_t count);

/* CRC-16/CCITT-FALSE step (poly 0x1021, init 0xFFFF), exposed for tests. */
uint16_t harness_crc16(uint16_t crc, const uint8_t *data, size_t len);

#endif
