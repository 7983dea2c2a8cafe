/* aotgen's MLPerf Tiny app, device side (aotgen_mlperf.h; protocol: docs/mlperf.md). */
#include "aotgen_mlperf.h"

#include <string.h>

#include "aotgen_harness.h"

#define MAX_WORDS 5u
/* How long the timestamp pin stays low in energy mode (the runner's monitor sees the edge). */
#define PULSE_US 1000u
#define DEFAULT_WARMUPS 10u

static char g_cmd[AOTGEN_MLPERF_CMD_MAX + 1u];
static uint32_t g_len;
static uint8_t g_overlong, g_unprintable;
static uint32_t g_db_expected, g_db_pos;
static uint8_t g_have_results;
/* harness_cycles() extended to 64 bits: every reading adds the (wrapping) difference to the
 * last one, so the count stays right as long as it is read once per wrap; poll() and the
 * inference loop read it far more often. */
static uint32_t g_last_cycles;
static uint64_t g_ticks;

/* ---------------------------------------------------------------- output */

static void put(const char *s) { harness_write((const uint8_t *)s, strlen(s)); }

static void end_line(void) { put("\r\n"); }

static void say(const char *s) {
    put(s);
    end_line();
}

static void put_u64(uint64_t v) {
    char buf[21];
    size_t i = sizeof buf - 1u;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    put(&buf[i]);
}

/* Six decimals ("0.996094"), "-" for negatives; beyond 1e12 d.dddddde+NN; nan, inf. */
static void put_real(float f) {
    double v = (double)f;
    if (v != v) {
        put("nan");
        return;
    }
    if (v < 0) {
        put("-");
        v = -v;
    }
    if (v > 3.4028235e38) { /* beyond FLT_MAX */
        put("inf");
        return;
    }
    int exp10 = 0;
    if (v >= 1e12) {
        while (v >= 10.0) {
            v /= 10.0;
            exp10++;
        }
    }
    uint64_t micro = (uint64_t)(v * 1e6 + 0.5);
    put_u64(micro / 1000000u);
    char frac[8] = ".000000";
    uint32_t rest = (uint32_t)(micro % 1000000u);
    for (int i = 6; i > 0; i--) {
        frac[i] = (char)('0' + (int)(rest % 10u));
        rest /= 10u;
    }
    put(frac);
    if (exp10) {
        put("e+");
        put_u64((uint64_t)exp10);
    }
}

static void error(const char *what, const char *detail) {
    put("e-[");
    put(what);
    put(detail);
    say("]");
}

/* ---------------------------------------------------------------- time */

static uint64_t clock_ticks(void) {
    uint32_t now = harness_cycles();
    g_ticks += (uint32_t)(now - g_last_cycles);
    g_last_cycles = now;
    return g_ticks;
}

static uint64_t clock_us(void) {
    uint64_t hz = harness_cycles_hz(), t = clock_ticks();
    if (hz == 0) return t;
    return t / hz * 1000000u + t % hz * 1000000u / hz; /* exact, and no overflow */
}

static void timestamp(void) {
    if (aotgen_mlperf_config.energy_mode) {
        uint64_t start = clock_us();
        harness_timestamp_pin(0);
        /* Bounded also by a count: a counter that does not run must not hang the firmware. */
        for (uint32_t spins = 0; spins < 1000000u && clock_us() - start < PULSE_US; spins++) {
        }
        harness_timestamp_pin(1);
        return;
    }
    put("m-lap-us-");
    put_u64(clock_us());
    end_line();
}

/* ---------------------------------------------------------------- tensors */

static uint32_t type_size(uint8_t type) {
    return type == AOTGEN_MLPERF_INT16 ? 2u : (type == AOTGEN_MLPERF_INT32 || type == AOTGEN_MLPERF_FLOAT32) ? 4u : 1u;
}

static float load_element(const uint8_t *p, uint8_t type) {
    switch (type) {
    case AOTGEN_MLPERF_INT8:
        return (float)(int8_t)p[0];
    case AOTGEN_MLPERF_UINT8:
        return (float)p[0];
    case AOTGEN_MLPERF_INT16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        return (float)v;
    }
    case AOTGEN_MLPERF_INT32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return (float)v;
    }
    default: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    }
}

/* Element i of a tensor as a real value. */
static float real_at(const uint8_t *data, uint32_t i, const aotgen_mlperf_tensor_t *t) {
    float q = load_element(data + i * type_size(t->type), t->type);
    if (t->scale == 0.0f) return q;
    return (q - (float)t->zero_point) * t->scale;
}

/* Round half away from zero, as TFLite's quantization does (no libm: Zephyr's minimal libc
 * has no roundf). Exact: the fraction of a float below 2^23 is representable. */
static float round_half_away(float v) {
    if (!(v > -8388608.0f && v < 8388608.0f)) return v;
    int32_t i = (int32_t)v;
    float frac = v - (float)i;
    if (frac >= 0.5f) i++;
    if (frac <= -0.5f) i--;
    return (float)i;
}

/* real -> element i of a tensor: q = clamp(round(real / scale) + zero_point). */
static void store_real(uint8_t *data, uint32_t i, const aotgen_mlperf_tensor_t *t, float real) {
    uint8_t *p = data + i * type_size(t->type);
    if (t->type == AOTGEN_MLPERF_FLOAT32) {
        memcpy(p, &real, sizeof real);
        return;
    }
    float lo = t->type == AOTGEN_MLPERF_INT8 ? -128.0f : t->type == AOTGEN_MLPERF_UINT8 ? 0.0f
               : t->type == AOTGEN_MLPERF_INT16 ? -32768.0f : -2147483648.0f;
    float hi = t->type == AOTGEN_MLPERF_INT8 ? 127.0f : t->type == AOTGEN_MLPERF_UINT8 ? 255.0f
               : t->type == AOTGEN_MLPERF_INT16 ? 32767.0f : 2147483520.0f;
    float v = real != real ? 0.0f : real; /* NaN: the zero point */
    if (t->scale != 0.0f) v = round_half_away(v / t->scale) + (float)t->zero_point;
    v = v < lo ? lo : v > hi ? hi : round_half_away(v);
    int32_t q = (int32_t)v;
    if (t->type == AOTGEN_MLPERF_INT8 || t->type == AOTGEN_MLPERF_UINT8) {
        p[0] = (uint8_t)(q & 0xFF);
    } else if (t->type == AOTGEN_MLPERF_INT16) {
        int16_t s = (int16_t)q;
        memcpy(p, &s, sizeof s);
    } else {
        memcpy(p, &q, sizeof q);
    }
}

/* The real value element i of the loaded sample stands for. */
static float raw_real(uint32_t i) {
    const aotgen_mlperf_config_t *c = &aotgen_mlperf_config;
    if (c->raw == AOTGEN_MLPERF_RAW_UINT8) return (float)c->db[i] * c->raw_scale;
    if (c->raw == AOTGEN_MLPERF_RAW_FLOAT32) {
        float v;
        memcpy(&v, c->db + 4u * i, sizeof v);
        return v;
    }
    return real_at(c->db, i, &c->input);
}

static uint8_t *tensor_data(const harness_tensor_t *t) { return t->data ? t->data : t->buffer(); }

/* The loaded sample -> the model's input tensor. */
static void load_input(void) {
    const aotgen_mlperf_config_t *c = &aotgen_mlperf_config;
    uint8_t *in = tensor_data(&aotgen_models[0].inputs[0]);
    if (c->raw == AOTGEN_MLPERF_RAW_TENSOR) {
        memcpy(in, c->db, (size_t)c->db_size);
        return;
    }
    for (uint32_t i = 0; i < c->elements; i++) store_real(in, i, &c->input, raw_real(i));
}

static void print_results(void) {
    const aotgen_mlperf_config_t *c = &aotgen_mlperf_config;
    const harness_tensor_t *t = &aotgen_models[0].outputs[0];
    const uint8_t *out = tensor_data(t);
    uint32_t n = t->size / type_size(c->output.type);
    put("m-results-[");
    if (c->result == AOTGEN_MLPERF_MSE) {
        float sum = 0.0f;
        for (uint32_t i = 0; i < n; i++) {
            float d = real_at(out, i, &c->output) - raw_real(i);
            sum += d * d;
        }
        put_real(n ? sum / (float)n : 0.0f);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (i) put(",");
            put_real(real_at(out, i, &c->output));
        }
    }
    say("]");
}

/* ---------------------------------------------------------------- commands */

/* A decimal number of at most 10 digits that fits 32 bits. */
static int parse_u32(const char *s, uint32_t *out) {
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 10) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    if (v > 0xFFFFFFFFu) return 0;
    *out = (uint32_t)v;
    return 1;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_hex_byte(uint8_t b) {
    static const char digits[] = "0123456789abcdef";
    char s[3] = {digits[b >> 4], digits[b & 0xFu], '\0'};
    put(s);
}

static void db_load(int argc, char **argv) {
    uint32_t n;
    if (argc != 3 || !parse_u32(argv[2], &n)) {
        error("Usage: db load N (a decimal byte count)", "");
    } else if (n == 0) {
        error("db load: N must be at least 1", "");
    } else if (n > aotgen_mlperf_config.db_size) {
        put("e-[db load: ");
        put_u64(n);
        put(" bytes do not fit the ");
        put_u64(aotgen_mlperf_config.db_size);
        say("-byte buffer (one sample of this model)]");
    } else {
        g_db_expected = n;
        g_db_pos = 0;
        put("m-[Expecting ");
        put_u64(n);
        say(" bytes]");
    }
}

static void db_data(const char *hex) {
    size_t digits = strlen(hex);
    if (g_db_expected == 0) {
        error("db: announce the size with db load N first", "");
        return;
    }
    if (digits % 2u) {
        error("db: an odd number of hex digits", "");
        return;
    }
    for (size_t i = 0; i < digits; i++) {
        if (hex_digit(hex[i]) < 0) {
            error("db: not a hex digit in ", hex);
            return;
        }
    }
    uint32_t n = (uint32_t)(digits / 2u);
    if (n > g_db_expected - g_db_pos) {
        put("e-[db: ");
        put_u64(n);
        put(" bytes, but only ");
        put_u64(g_db_expected - g_db_pos);
        say(" of the announced bytes are left]");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        aotgen_mlperf_config.db[g_db_pos++] = (uint8_t)(hex_digit(hex[2u * i]) * 16 + hex_digit(hex[2u * i + 1u]));
    }
    if (g_db_pos == g_db_expected) say("m-load-done");
}

/* db print [N [OFFSET]]: loaded bytes as hex, 8 per line. */
static void db_print(int argc, char **argv) {
    uint32_t n = g_db_pos, offset = 0;
    if (argc > 4 || (argc > 2 && !parse_u32(argv[2], &n)) || (argc > 3 && !parse_u32(argv[3], &offset))) {
        error("Usage: db print [N [OFFSET]] (decimal)", "");
        return;
    }
    if (g_db_pos == 0) {
        error("db print: nothing loaded", "");
        return;
    }
    if (offset > g_db_pos || n > g_db_pos - offset) {
        put("e-[db print: beyond the ");
        put_u64(g_db_pos);
        say(" bytes loaded]");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        put(i % 8u == 0 ? "m-buffer-" : "-");
        put_hex_byte(aotgen_mlperf_config.db[offset + i]);
        if (i % 8u == 7u || i + 1u == n) end_line();
    }
}

static void infer(int argc, char **argv) {
    const aotgen_mlperf_config_t *c = &aotgen_mlperf_config;
    const harness_model_t *m = &aotgen_models[0];
    uint32_t n = 1, warmups = DEFAULT_WARMUPS;
    if (argc > 3 || (argc > 1 && !parse_u32(argv[1], &n)) || (argc > 2 && !parse_u32(argv[2], &warmups))) {
        error("Usage: infer N [W] (decimal: N timed runs after W warm-up runs, default 10)", "");
        return;
    }
    if (n == 0) {
        error("infer: N must be at least 1", "");
        return;
    }
    if (g_db_expected != c->db_size || g_db_pos != c->db_size) {
        put("e-[infer: load one sample first (db load ");
        put_u64(c->db_size);
        put(", then its bytes; ");
        put_u64(g_db_expected == c->db_size ? g_db_pos : 0);
        say(" loaded)]");
        return;
    }
    /* An input inside the arena (io_in_arena) may be overwritten by the run: load it each time. */
    int reload = m->inputs[0].data == NULL;
    int32_t status = 0;
    load_input();
    put("m-warmup-start-");
    put_u64(warmups);
    end_line();
    for (uint32_t i = 0; i < warmups; i++) {
        if (reload) load_input();
        int32_t s = m->run();
        if (status == 0) status = s;
        (void)clock_ticks();
    }
    say("m-warmup-done");
    put("m-infer-start-");
    put_u64(n);
    end_line();
    timestamp();
    for (uint32_t i = 0; i < n; i++) {
        if (reload) load_input();
        int32_t s = m->run();
        if (status == 0) status = s;
        (void)clock_ticks();
    }
    timestamp();
    say("m-infer-done");
    g_have_results = (uint8_t)(status == 0);
    if (status != 0) {
        put("e-[infer: the model's run returned ");
        if (status < 0) put("-");
        put_u64(status < 0 ? (uint64_t)(-(int64_t)status) : (uint64_t)status);
        say("]");
        return;
    }
    print_results();
}

static void help(void) {
    say("aotgen MLPerf Tiny firmware. Commands end with %:");
    say("  name                 the device's name");
    say("  profile              the firmware and the model id");
    say("  timestamp            the time in microseconds (energy mode: a pulse on the timestamp pin)");
    say("  db load N            expect N bytes of one sample");
    say("  db HEX               the next bytes, two hex digits each");
    say("  db print [N [OFF]]   the loaded bytes in hex");
    say("  infer N [W]          W warm-up runs (default 10), N timed runs, the results");
    say("  results              the results of the last run");
}

static void dispatch(char *line) {
    char *argv[MAX_WORDS];
    int argc = 0;
    for (char *p = line; *p;) {
        while (*p == ' ') *p++ = '\0';
        if (!*p) break;
        if (argc == (int)MAX_WORDS) {
            error("Too many words in the command", "");
            return;
        }
        argv[argc++] = p;
        while (*p && *p != ' ') p++;
    }
    if (argc == 0) {
        error("Empty command", "");
        return;
    }
    const char *cmd = argv[0];
    int no_args = argc == 1;
    if (strcmp(cmd, "db") == 0) {
        if (argc == 1) {
            error("db needs a subcommand: load N, print, or hex bytes", "");
        } else if (strcmp(argv[1], "load") == 0) {
            db_load(argc, argv);
        } else if (strcmp(argv[1], "print") == 0) {
            db_print(argc, argv);
        } else if (argc == 2) {
            db_data(argv[1]);
        } else {
            error("db: one word of hex digits expected", "");
        }
    } else if (strcmp(cmd, "infer") == 0) {
        infer(argc, argv);
    } else if (!no_args && (!strcmp(cmd, "name") || !strcmp(cmd, "profile") || !strcmp(cmd, "timestamp") ||
                            !strcmp(cmd, "results") || !strcmp(cmd, "help"))) {
        error("This command takes no arguments: ", cmd);
    } else if (strcmp(cmd, "name") == 0) {
        say("m-name-dut-[aotgen]");
    } else if (strcmp(cmd, "profile") == 0) {
        say("m-profile-[aotgen MLPerf Tiny firmware]");
        put("m-model-[");
        put(aotgen_mlperf_config.model_id);
        say("]");
    } else if (strcmp(cmd, "timestamp") == 0) {
        timestamp();
    } else if (strcmp(cmd, "results") == 0) {
        if (g_have_results) {
            print_results();
        } else {
            error("No results: run infer first", "");
        }
    } else if (strcmp(cmd, "help") == 0) {
        help();
    } else {
        error("Unknown command: ", cmd);
    }
}

/* One byte of a command. Bytes past the limit are counted, not stored: the command is refused
 * at its '%', and the next one starts clean. */
static void take(uint8_t c) {
    if (c == '%') {
        if (g_overlong) {
            put("e-[Command longer than ");
            put_u64(AOTGEN_MLPERF_CMD_MAX);
            say(" characters]");
        } else if (g_unprintable) {
            error("Command holds a byte that is not printable ASCII", "");
        } else {
            g_cmd[g_len] = '\0';
            dispatch(g_cmd);
        }
        say("m-ready");
        g_len = 0;
        g_overlong = g_unprintable = 0;
        return;
    }
    if (c == '\r' || c == '\n') return; /* a terminal's Enter */
    if (c == '\t') c = ' ';
    if (c < 0x20u || c > 0x7Eu) g_unprintable = 1;
    if (g_len < AOTGEN_MLPERF_CMD_MAX) {
        g_cmd[g_len++] = (char)c;
    } else {
        g_overlong = 1;
    }
}

void aotgen_mlperf_init(void) {
    g_last_cycles = harness_cycles();
    g_ticks = 0;
    if (aotgen_mlperf_config.energy_mode) {
        harness_timestamp_pin(1); /* idle high: each timestamp is a falling edge */
        say("m-timestamp-mode-energy");
    } else {
        say("m-timestamp-mode-performance");
    }
    say("m-init-done");
    say("m-ready");
}

int aotgen_mlperf_poll(uint32_t wait_ms) {
    int c = harness_read_byte(wait_ms);
    (void)clock_ticks();
    if (c < 0) return 0;
    take((uint8_t)c);
    return 1;
}

void aotgen_mlperf_serve(void) {
    aotgen_mlperf_init();
    for (;;) (void)aotgen_mlperf_poll(100u);
}
