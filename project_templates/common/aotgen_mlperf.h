/* aotgen's MLPerf Tiny app, device side: the text protocol the MLCommons benchmark runner
 * (mlcommons/tiny benchmark/runner) speaks, over the same serial port and platform functions as
 * aotgen's harness (aotgen_harness.h). Written for aotgen from the protocol's description; see
 * docs/mlperf.md in the aotgen repository.
 *
 * Commands end with '%' (at most AOTGEN_MLPERF_CMD_MAX characters before it); every answer ends
 * with the line "m-ready". Errors are "e-[...]" lines; no command can write outside a buffer.
 *
 * Plain C99, no malloc, no stdio, no libm. The model is the first one of the generated model
 * table (aotgen_models.c); aotgen_mlperf_model.c (generated) says how the benchmark's raw bytes
 * become its input and what the results are. */
#ifndef AOTGEN_MLPERF_H
#define AOTGEN_MLPERF_H

#include <stddef.h>
#include <stdint.h>

#define AOTGEN_MLPERF_CMD_MAX 80u

/* How the bytes loaded with `db` become the model's input. */
enum {
    AOTGEN_MLPERF_RAW_TENSOR = 0, /* the input tensor's own bytes (kws01, a custom model) */
    AOTGEN_MLPERF_RAW_UINT8 = 1,  /* one uint8 v per element: real value v * raw_scale (vww01, ic01) */
    AOTGEN_MLPERF_RAW_FLOAT32 = 2 /* one little-endian float32 real value per element (ad01) */
};

/* Element types of the input and output tensors. */
enum {
    AOTGEN_MLPERF_INT8 = 0,
    AOTGEN_MLPERF_UINT8 = 1,
    AOTGEN_MLPERF_INT16 = 2,
    AOTGEN_MLPERF_INT32 = 3,
    AOTGEN_MLPERF_FLOAT32 = 4
};

/* What `m-results-[...]` holds. */
enum {
    AOTGEN_MLPERF_SCORES = 0, /* every element of output 0, dequantized */
    AOTGEN_MLPERF_MSE = 1     /* the mean squared error of output 0 against the real input (ad01) */
};

typedef struct {
    uint8_t type;       /* AOTGEN_MLPERF_INT8 ... */
    float scale;        /* real = (q - zero_point) * scale; 0: not quantized */
    int32_t zero_point;
} aotgen_mlperf_tensor_t;

typedef struct {
    const char *model_id;  /* m-model-[...]: the runner picks its test by it (kws01, vww01, ...) */
    uint8_t energy_mode;   /* 1: `timestamp` pulses the timestamp pin instead of printing m-lap-us */
    uint8_t raw;           /* AOTGEN_MLPERF_RAW_* */
    float raw_scale;       /* AOTGEN_MLPERF_RAW_UINT8 */
    uint8_t result;        /* AOTGEN_MLPERF_SCORES / _MSE */
    aotgen_mlperf_tensor_t input, output;
    uint32_t elements;     /* of the input tensor */
    uint8_t *db;           /* the buffer `db` commands fill: db_size bytes */
    uint32_t db_size;      /* one raw sample */
} aotgen_mlperf_config_t;

/* Generated (aotgen_mlperf_model.c). */
extern const aotgen_mlperf_config_t aotgen_mlperf_config;

/* The boot lines: m-timestamp-mode-..., m-init-done, m-ready. Call once, after the platform's
 * serial port and counter are set up. */
void aotgen_mlperf_init(void);
/* Wait up to wait_ms for a byte and take it; a '%' runs the command. Returns 1 if a byte arrived.
 * Call it at least every 100 ms or so: it also keeps the 64-bit microsecond clock current. */
int aotgen_mlperf_poll(uint32_t wait_ms);
/* aotgen_mlperf_init, then aotgen_mlperf_poll forever. */
void aotgen_mlperf_serve(void);

#endif
