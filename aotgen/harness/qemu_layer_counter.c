/* A QEMU TCG plugin that counts the guest instructions each layer of a model executes, for
 * `aotgen profile`: the firmware profiled is the firmware shipped (no marks between kernel calls).
 *
 * Debian's QEMU 7.2 runs plugins but ships no qemu-plugin.h: the few v1 API functions used are
 * declared here. Arguments: map=FILE (what aotgen/harness/profile.py derives from the ELF and its
 * debug info), out=FILE (written at exit, when QEMU ends on SIGTERM or a guest exit).
 *
 * The map classifies guest code by address ranges, one per line "START END CLASS" (hex, hex, int,
 * END exclusive, sorted, not overlapping):
 *   CLASS >= 0   code of <prefix>_run attributed to layer CLASS (a kernel call site, or a kernel
 *                inlined there); the last layer index is the run's own glue
 *   -1 CALLEE    code the run calls (kernels built apart, helpers, libc, libgcc): counted to the
 *                current context
 *   -2 OUTSIDE   the harness and platform code: the context becomes "outside"
 *   -3 HANDLER   exception handlers: counted outside, the context is kept (an interrupt during
 *                a layer does not end it)
 * Addresses in no range are OUTSIDE. A line "ENTRY ADDR" names <prefix>_run's first instruction:
 * its executions are the number of inferences. Output: "runs N", "layer K COUNT" per layer,
 * "outside COUNT". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

enum { CALLEE = -1, OUTSIDE = -2, HANDLER = -3 };

struct range { uint64_t start, end; int cls; };
static struct range *ranges;
static size_t n_ranges;
static uint64_t entry = UINT64_MAX;
static uint64_t *layer_counts;  /* per layer */
static int n_layers;
static uint64_t outside_count, runs;
static int context = OUTSIDE;
static char out_path[4096];

/* One translated block: the class of each of its instructions, and whether it starts a run. */
struct block { size_t n; int starts_run; int cls[]; };

static int classify(uint64_t pc) {
  size_t lo = 0, hi = n_ranges;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (pc < ranges[mid].start) hi = mid;
    else if (pc >= ranges[mid].end) lo = mid + 1;
    else return ranges[mid].cls;
  }
  return OUTSIDE;
}

static void count(int cls) {
  if (cls >= 0) context = cls;
  else if (cls == OUTSIDE) context = OUTSIDE;
  int where = (cls == HANDLER) ? OUTSIDE : context;
  if (where >= 0) layer_counts[where]++;
  else outside_count++;
}

static void block_exec(unsigned int vcpu, void *udata) {
  (void)vcpu;
  const struct block *b = udata;
  if (b->starts_run) runs++;
  for (size_t i = 0; i < b->n; ++i) count(b->cls[i]);
}

static void block_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  struct block *b = malloc(sizeof *b + n * sizeof(int));  /* lives as long as QEMU may run it */
  if (b == NULL) return;
  b->n = n;
  b->starts_run = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t pc = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
    b->cls[i] = classify(pc);
    if (pc == entry) b->starts_run = 1;
  }
  qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void write_counts(qemu_plugin_id_t id, void *udata) {
  (void)id;
  (void)udata;
  FILE *f = fopen(out_path, "w");
  if (f == NULL) return;
  fprintf(f, "runs %llu\n", (unsigned long long)runs);
  for (int k = 0; k < n_layers; ++k) fprintf(f, "layer %d %llu\n", k, (unsigned long long)layer_counts[k]);
  fprintf(f, "outside %llu\n", (unsigned long long)outside_count);
  fclose(f);
}

static int read_map(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t cap = 1024;
  ranges = malloc(cap * sizeof *ranges);
  char line[256];
  while (ranges != NULL && fgets(line, sizeof line, f)) {
    unsigned long long a, b;
    int cls;
    if (sscanf(line, "ENTRY %llx", &a) == 1) {
      entry = a;
    } else if (sscanf(line, "%llx %llx %d", &a, &b, &cls) == 3) {
      if (n_ranges == cap) ranges = realloc(ranges, (cap *= 2) * sizeof *ranges);
      if (ranges == NULL) break;
      ranges[n_ranges++] = (struct range){a, b, cls};
      if (cls + 1 > n_layers) n_layers = cls + 1;
    }
  }
  fclose(f);
  if (ranges == NULL || n_layers == 0 || entry == UINT64_MAX) return -1;
  layer_counts = calloc((size_t)n_layers, sizeof *layer_counts);
  return layer_counts == NULL ? -1 : 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info;
  const char *map = NULL;
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "map=", 4) == 0) map = argv[i] + 4;
    else if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  }
  if (map == NULL || out_path[0] == 0 || read_map(map) != 0) {
    fprintf(stderr, "aotgen layer counter: needs map=FILE (with an ENTRY line and ranges) and out=FILE\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, block_trans);
  qemu_plugin_register_atexit_cb(id, write_counts, NULL);
  return 0;
}
