/* aotgen serial harness, device side. Protocol: docs/harness-protocol.md. */
#include "aotgen_harness.h"

#include <string.h>

#define SYNC0 0xA5u
#define SYNC1 0x5Au
/* After a framing error, at most this many bytes are discarded before ERROR is sent anyway,
 * so a host that never pauses cannot keep the device silent forever. */
#define DRAIN_LIMIT (4u * (HARNESS_MAX_PAYLOAD + 8u))

static const harness_model_t *g_models;
static uint8_t g_count;

/* type, seq, length (2), payload, crc (2) of the frame being received. */
static uint8_t g_rx[4u + HARNESS_MAX_PAYLOAD + 2u];

uint16_t harness_crc16(uint16_t crc, const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* ---------------------------------------------------------------- sending
 * Frames are streamed through a small buffer with a running CRC: a reply can be as long as a
 * whole tensor chunk without the device holding a copy. */
static uint8_t g_tx[64];
static size_t g_tx_len;
static uint16_t g_tx_crc;

static void tx_flush(void) {
    if (g_tx_len) harness_write(g_tx, g_tx_len);
    g_tx_len = 0;
}

static void tx_raw(uint8_t byte) {
    if (g_tx_len == sizeof g_tx) tx_flush();
    g_tx[g_tx_len++] = byte;
}

static void tx_bytes(const uint8_t *data, size_t len) {
    g_tx_crc = harness_crc16(g_tx_crc, data, len);
    for (size_t i = 0; i < len; i++) tx_raw(data[i]);
}

static void tx_u8(uint8_t v) { tx_bytes(&v, 1); }

static void tx_u16(uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tx_bytes(b, 2);
}

static void tx_u32(uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tx_bytes(b, 4);
}

static void tx_begin(uint8_t type, uint8_t seq, uint16_t len) {
    tx_raw(SYNC0);
    tx_raw(SYNC1);
    g_tx_crc = 0xFFFFu;
    tx_u8(type);
    tx_u8(seq);
    tx_u16(len);
}

static void tx_end(void) {
    uint16_t crc = g_tx_crc;
    tx_raw((uint8_t)crc);
    tx_raw((uint8_t)(crc >> 8));
    tx_flush();
}

static void send_error(uint8_t seq, uint8_t code, uint8_t type) {
    tx_begin(HARNESS_ERROR, seq, 2);
    tx_u8(code);
    tx_u8(type);
    tx_end();
}

static size_t name_len(const char *name) {
    size_t n = strlen(name);
    return n > 255u ? 255u : n;
}

void harness_send_ready(uint8_t seq) {
    uint32_t len = 5 + AOTGEN_FIRMWARE_ID_SIZE;
    for (uint8_t m = 0; m < g_count; m++) {
        const harness_model_t *md = &g_models[m];
        len += 3u + (uint32_t)name_len(md->name) + 4u * ((uint32_t)md->n_inputs + md->n_outputs);
    }
    tx_begin(HARNESS_READY, seq, (uint16_t)len);
    tx_u8(HARNESS_PROTOCOL_VERSION);
    tx_u16(HARNESS_MAX_PAYLOAD);
    tx_u8(harness_cycles_are_instructions ? 1u : 0u);
    tx_u8(g_count);
    for (uint8_t m = 0; m < g_count; m++) {
        const harness_model_t *md = &g_models[m];
        size_t n = name_len(md->name);
        tx_u8((uint8_t)n);
        tx_bytes((const uint8_t *)md->name, n);
        tx_u8(md->n_inputs);
        tx_u8(md->n_outputs);
        for (uint8_t i = 0; i < md->n_inputs; i++) tx_u32(md->inputs[i].size);
        for (uint8_t i = 0; i < md->n_outputs; i++) tx_u32(md->outputs[i].size);
    }
    tx_bytes(aotgen_firmware_id, AOTGEN_FIRMWARE_ID_SIZE);
    tx_end();
}

/* ---------------------------------------------------------------- receiving */

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Discard input until the line is idle for one inter-byte timeout, then report the error: the
 * rest of a garbled frame is never parsed as a new one, and the host's retry (sent after it
 * sees the ERROR) is not discarded. */
static void framing_error(uint8_t seq, uint8_t code, uint8_t type) {
    for (uint32_t n = 0; n < DRAIN_LIMIT; n++) {
        if (harness_read_byte(HARNESS_BYTE_TIMEOUT_MS) < 0) break;
    }
    send_error(seq, code, type);
}

/* Checks a tensor access; on failure sends the ERROR and returns NULL. */
static const harness_tensor_t *tensor_at(uint8_t seq, uint8_t type, const uint8_t *p, int output,
                                         uint32_t offset, uint32_t len) {
    if (p[0] >= g_count) {
        send_error(seq, HARNESS_E_BAD_MODEL, type);
        return NULL;
    }
    const harness_model_t *md = &g_models[p[0]];
    if (p[1] >= (output ? md->n_outputs : md->n_inputs)) {
        send_error(seq, HARNESS_E_BAD_TENSOR, type);
        return NULL;
    }
    const harness_tensor_t *t = output ? &md->outputs[p[1]] : &md->inputs[p[1]];
    if (offset > t->size || len > t->size - offset) {
        send_error(seq, HARNESS_E_OUT_OF_RANGE, type);
        return NULL;
    }
    return t;
}

static uint8_t *tensor_data(const harness_tensor_t *t) {
    return t->data ? t->data : t->buffer();
}

static void handle(uint8_t type, uint8_t seq, const uint8_t *p, uint16_t len) {
    switch (type) {
    case HARNESS_HELLO:
        if (len != 0) break;
        harness_send_ready(seq);
        return;
    case HARNESS_SET_INPUT: {
        if (len < 7) break;
        uint32_t n = (uint32_t)len - 6u;
        const harness_tensor_t *t = tensor_at(seq, type, p, 0, get_u32(p + 2), n);
        if (!t) return;
        memcpy(tensor_data(t) + get_u32(p + 2), p + 6, (size_t)n); /* n <= HARNESS_MAX_PAYLOAD */
        tx_begin(HARNESS_ACK, seq, 0);
        tx_end();
        return;
    }
    case HARNESS_RUN: {
        if (len != 1) break;
        if (p[0] >= g_count) {
            send_error(seq, HARNESS_E_BAD_MODEL, type);
            return;
        }
        uint32_t start = harness_cycles();
        int32_t status = g_models[p[0]].run();
        uint32_t count = harness_cycles() - start;
        tx_begin(HARNESS_RESULT, seq, 10);
        tx_u8(p[0]);
        tx_u32((uint32_t)status);
        tx_u32(count);
        tx_u8(harness_cycles_are_instructions ? 1u : 0u);
        tx_end();
        return;
    }
    case HARNESS_GET_OUTPUT: {
        if (len != 8) break;
        uint32_t offset = get_u32(p + 2);
        uint32_t n = (uint32_t)p[6] | ((uint32_t)p[7] << 8);
        if (n == 0 || n > HARNESS_MAX_PAYLOAD) break;
        const harness_tensor_t *t = tensor_at(seq, type, p, 1, offset, n);
        if (!t) return;
        tx_begin(HARNESS_OUTPUT, seq, (uint16_t)(6u + n));
        tx_bytes(p, 6); /* model, output, offset: echoed */
        tx_bytes(tensor_data(t) + offset, (size_t)n);
        tx_end();
        return;
    }
    default:
        send_error(seq, HARNESS_E_UNKNOWN_TYPE, type);
        return;
    }
    send_error(seq, HARNESS_E_BAD_PAYLOAD, type);
}

void harness_init(const harness_model_t *models, uint8_t count) {
    g_models = models;
    g_count = count;
}

int harness_poll(uint32_t wait_ms) {
    int c = harness_read_byte(wait_ms);
    if (c < 0) return 0;
    if (c != (int)SYNC0) return 1; /* line noise between frames: ignored */
    /* The sync pair (0xA5 0xA5 0x5A still syncs). */
    while (c == (int)SYNC0) {
        c = harness_read_byte(HARNESS_BYTE_TIMEOUT_MS);
        if (c < 0) {
            send_error(0, HARNESS_E_TIMEOUT, 0);
            return 1;
        }
        if (c == (int)SYNC1) break;
    }
    if (c != (int)SYNC1) return 1;

    /* Header: type, seq, length. */
    for (int i = 0; i < 4; i++) {
        c = harness_read_byte(HARNESS_BYTE_TIMEOUT_MS);
        if (c < 0) {
            send_error(i > 1 ? g_rx[1] : 0, HARNESS_E_TIMEOUT, i > 0 ? g_rx[0] : 0);
            return 1;
        }
        g_rx[i] = (uint8_t)c;
    }
    uint8_t type = g_rx[0], seq = g_rx[1];
    uint16_t len = (uint16_t)(g_rx[2] | ((unsigned)g_rx[3] << 8));
    if (len > HARNESS_MAX_PAYLOAD) {
        framing_error(seq, HARNESS_E_BAD_LENGTH, type);
        return 1;
    }
    for (uint32_t i = 0; i < (uint32_t)len + 2u; i++) {
        c = harness_read_byte(HARNESS_BYTE_TIMEOUT_MS);
        if (c < 0) {
            send_error(seq, HARNESS_E_TIMEOUT, type);
            return 1;
        }
        g_rx[4u + i] = (uint8_t)c;
    }
    uint16_t crc = harness_crc16(0xFFFFu, g_rx, 4u + (size_t)len);
    uint16_t got = (uint16_t)(g_rx[4u + len] | ((unsigned)g_rx[5u + len] << 8));
    if (crc != got) {
        framing_error(seq, HARNESS_E_BAD_CRC, type);
        return 1;
    }
    handle(type, seq, g_rx + 4, len);
    return 1;
}

void harness_serve(const harness_model_t *models, uint8_t count) {
    harness_init(models, count);
    harness_send_ready(0);
    for (;;) harness_poll(1000u);
}
