"""C emission: the freestanding kernel file, the weights, the runner and the public header.

Everything a model defines is `static` except `<prefix>_run` (and `<prefix>_set_workspace` with a
user workspace), so several models link into one firmware; every name carries the prefix anyway,
so debuggers and map files stay readable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import AotgenError
from .graph import Graph, TensorKind
from .plan import MemoryPlan
from .tensors import C_TYPES, ModelSignature

STD_INCLUDES = ["stdint.h", "stddef.h", "stdbool.h", "string.h", "math.h"]

# The portable spelling of alignment and sections for GCC and Clang; other compilers ignore them.
ATTRIBUTE_MACROS = """\
#if defined(__GNUC__) || defined(__clang__)
#define AOTGEN_ALIGNED(n) __attribute__((aligned(n)))
#else
#define AOTGEN_ALIGNED(n)
#endif
"""


# TFLite's MultiplyByQuantizedMultiplier (gemmlowp SaturatingRoundingDoublingHighMul, then
# RoundingDivideByPOT) in 32-bit arithmetic only: the 64-bit product is built from 16-bit halves.
REQUANTIZE_HELPER = """\
static inline int32_t aotgen_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  bool neg = (a < 0) != (b < 0);
  uint32_t ua = a < 0 ? 0u - (uint32_t)a : (uint32_t)a;
  uint32_t ub = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
  uint32_t a0 = ua & 0xFFFFu, a1 = ua >> 16, b0 = ub & 0xFFFFu, b1 = ub >> 16;
  uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint32_t mid = (p00 >> 16) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  uint32_t lo = (mid << 16) | (p00 & 0xFFFFu);
  uint32_t hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
  /* (|a*b| + nudge) >> 31, nudge 2^30 (or 2^30 - 1 for a negative product: C truncation). */
  uint32_t nudge = neg ? (1u << 30) - 1u : (1u << 30);
  uint32_t lo2 = lo + nudge;
  hi += lo2 < lo;
  uint32_t q = (hi << 1) | (lo2 >> 31);
  return neg ? (int32_t)(0u - q) : (int32_t)q;
}

static inline int32_t aotgen_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  int32_t v = aotgen_srdhm((int32_t)((uint32_t)x << left), multiplier);
  int32_t mask = (int32_t)((1u << right) - 1u);
  int32_t remainder = v & mask;
  int32_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
  return (v >> right) + (remainder > threshold ? 1 : 0);
}

/* TFLite's single-rounding variant (what LiteRT's reference FULLY_CONNECTED computes):
   (x * multiplier + 2^(30 - shift)) >> (31 - shift), the 64-bit value held as hi:lo. */
static inline int32_t aotgen_requantize_single(int32_t x, int32_t multiplier, int32_t shift) {
  bool neg = (x < 0) != (multiplier < 0);
  uint32_t ua = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
  uint32_t ub = multiplier < 0 ? 0u - (uint32_t)multiplier : (uint32_t)multiplier;
  uint32_t a0 = ua & 0xFFFFu, a1 = ua >> 16, b0 = ub & 0xFFFFu, b1 = ub >> 16;
  uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint32_t mid = (p00 >> 16) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  uint32_t lo = (mid << 16) | (p00 & 0xFFFFu);
  uint32_t hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16);
  if (neg) { /* two's complement of hi:lo */
    lo = ~lo + 1u;
    hi = ~hi + (lo == 0u);
  }
  int32_t total = 31 - shift; /* 24..62 */
  if (total - 1 < 32) {
    uint32_t r = 1u << (total - 1);
    uint32_t lo2 = lo + r;
    hi += lo2 < lo;
    lo = lo2;
  } else {
    hi += 1u << (total - 33);
  }
  if (total >= 32) return (int32_t)hi >> (total - 32);
  return (int32_t)((lo >> total) | (hi << (32 - total)));
}
"""


@dataclass
class CFunction:
    name: str
    params: list[tuple[str, str]]  # (C type, name)
    body: str  # including the outer braces


_DEF_RE = re.compile(r"^(?:TVM_DLL )?(?:int32_t|void) (\w+)\(([^)]*)\) \{", re.M)


def parse_kernel_source(source: str) -> list[CFunction]:
    """Split TVM's `c` codegen output into its function definitions.

    Everything else TVM writes (its runtime headers, TVM_EXPORTS, the unprefixed
    `__tvm_ffi__library_ctx` global, TVM_DLL prototypes of libm functions) is dropped.
    """
    functions = []
    for m in _DEF_RE.finditer(source):
        depth, i = 0, m.end() - 1
        while True:
            c = source[i]
            depth += c == "{"
            depth -= c == "}"
            i += 1
            if depth == 0:
                break
        params = []
        for p in filter(None, (x.strip() for x in m.group(2).split(","))):
            ctype, name = p.rsplit(" ", 1)
            params.append((ctype.replace(" restrict", ""), name))
        functions.append(CFunction(m.group(1), params, source[m.end() - 1 : i]))
    return functions


def _c_float(v: float) -> str:
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = f"{v:.9g}"
    if not any(ch in s for ch in ".en"):
        s += ".0"
    return s + "f"


def c_array_literal(data: np.ndarray) -> str:
    flat = data.reshape(-1)
    if data.dtype == np.float32:
        items = [_c_float(float(v)) for v in flat]
    elif data.dtype == np.bool_:
        items = ["1" if v else "0" for v in flat]
    elif data.dtype == np.int32 or data.dtype == np.uint32:
        # INT32_MIN cannot be written as a plain negative literal in C.
        items = [f"({int(v) + 1}-1)" if int(v) == -(2**31) else str(int(v)) for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i : i + 16]) for i in range(0, len(items), 16)]
    return "{\n  " + ",\n  ".join(lines) + "\n}"


def c_type_of(dtype: str) -> str:
    try:
        return C_TYPES[dtype]
    except KeyError:
        raise AotgenError(f"tensors of type {dtype} are not supported by the C emitter") from None


@dataclass
class EmitOptions:
    prefix: str
    workspace: str = "static"  # "static": the library owns the arena; "user": the caller passes it
    io_in_arena: bool = False  # inputs/outputs live in the arena; the header exposes their buffers
    constants_alignment: int = 16


def _macro(prefix: str) -> str:
    return prefix.upper()


def emit_header(sig: ModelSignature, plan: MemoryPlan, opts: EmitOptions) -> str:
    p, P = opts.prefix, _macro(opts.prefix)
    out = [
        f"/* {p}.h: generated by aotgen. The interface of model '{p}'. */",
        f"#ifndef {P}_H_",
        f"#define {P}_H_",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"/* Bytes of working memory (activations and kernel scratch) the model needs. */",
        f"#define {P}_WORKSPACE_SIZE {plan.arena_bytes}",
        f"#define {P}_WORKSPACE_ALIGNMENT {plan.alignment}",
        f"#define {P}_NUM_INPUTS {len(sig.inputs)}",
        f"#define {P}_NUM_OUTPUTS {len(sig.outputs)}",
        "",
    ]
    for kind, tensors in (("input", sig.inputs), ("output", sig.outputs)):
        for t in tensors:
            M = f"{P}_{t.c_name.upper()}"
            out.append(f"/* {kind} '{t.name}': {t.dtype}{t.shape} */")
            out.append(f"#define {M}_SIZE {t.nbytes}")
            out.append(f"#define {M}_DIMS {len(t.shape)}")
            out.append(f"#define {M}_SHAPE {{{', '.join(str(d) for d in t.shape) or '1'}}}")
            if t.quantization is not None:
                out.append(f"#define {M}_SCALE {_c_float(t.quantization.scale)}")
                out.append(f"#define {M}_ZERO_POINT {t.quantization.zero_point}")
            out.append("")
    out.append(f"struct {p}_inputs {{")
    out += [f"  const {t.c_type}* {t.c_name};" for t in sig.inputs]
    out.append("};")
    out.append("")
    out.append(f"struct {p}_outputs {{")
    out += [f"  {t.c_type}* {t.c_name};" for t in sig.outputs]
    out.append("};")
    out.append("")
    if opts.workspace == "user":
        out += [
            f"#define {P}_WORKSPACE_USER 1",
            f"/* Give the model its working memory: at least {P}_WORKSPACE_SIZE bytes aligned to",
            f"   {P}_WORKSPACE_ALIGNMENT. Models run one after another may share one buffer.",
            "   Returns 0, or -1 if the buffer is too small or misaligned. */",
            f"int32_t {p}_set_workspace(void* workspace, size_t size);",
            "",
        ]
    if opts.io_in_arena:
        out += [
            f"#define {P}_IO_IN_ARENA 1",
            "/* The inputs and outputs live inside the arena. Write inputs through these pointers and",
            f"   call {p}_run(NULL, NULL); read outputs through them afterwards. (Passing structs still",
            "   works: their inputs are copied in and the outputs copied out.) */",
        ]
        for t in sig.inputs:
            out.append(f"{t.c_type}* {p}_{t.c_name}_buffer(void);")
        for t in sig.outputs:
            out.append(f"const {t.c_type}* {p}_{t.c_name}_buffer(void);")
        out.append("")
        run_doc = ["/* Run the model once. Returns 0 on success, non-zero on failure (no workspace set). */"]
    else:
        run_doc = [
            "/* Run the model once. Returns 0 on success, non-zero on failure (a NULL tensor pointer,",
            "   or no workspace set). */",
        ]
    out += [
        *run_doc,
        f"int32_t {p}_run(struct {p}_inputs* inputs, struct {p}_outputs* outputs);",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {P}_H_ */",
        "",
    ]
    return "\n".join(out)


def _kernel_read_only(graph: Graph) -> dict[str, list[bool]]:
    flags: dict[str, list[bool]] = {}
    for call in graph.calls:
        if call.kernel:
            flags.setdefault(call.kernel, call.read_only)
    return flags


def emit_kernels(functions: list[CFunction], graph: Graph) -> tuple[str, dict[str, CFunction]]:
    """The kernels as static functions with const/restrict-qualified typed pointers."""
    read_only = _kernel_read_only(graph)
    out, by_name = [], {}
    for f in functions:
        flags = read_only.get(f.name) or [False] * len(f.params)
        typed = [(f"const {t}" if ro and t.endswith("*") else t, n) for (t, n), ro in zip(f.params, flags)]
        decl = ", ".join(f"{t}{' restrict' if t.endswith('*') else ''} {n}" for t, n in typed)
        by_name[f.name] = CFunction(f.name, typed, f.body)
        out.append(f"static void {f.name}({decl or 'void'}) {f.body}\n")
    return "\n".join(out), by_name


def emit_constants(graph: Graph, opts: EmitOptions) -> str:
    out = []
    for t in graph.of_kind(TensorKind.CONSTANT):
        data = np.ascontiguousarray(t.data)
        out.append(
            f"static const {c_type_of(t.dtype)} {_const_name(opts.prefix, t.id)}[{max(data.size, 1)}] "
            f"AOTGEN_ALIGNED({opts.constants_alignment}) = {c_array_literal(data.reshape(-1) if data.size else np.zeros(1, data.dtype))};\n"
        )
    return "\n".join(out)


def _const_name(prefix: str, tid: int) -> str:
    return f"{prefix}_const{tid}"


def emit_runner(graph: Graph, plan: MemoryPlan, sig: ModelSignature, kernels: dict[str, CFunction], opts: EmitOptions) -> str:
    p, P = opts.prefix, _macro(opts.prefix)
    out = []
    if opts.workspace == "static":
        out += [
            f"#ifdef {P}_WORKSPACE_SECTION",
            f"__attribute__((section({P}_WORKSPACE_SECTION)))",
            "#endif",
            f"static uint8_t {p}_workspace[{max(plan.arena_bytes, 1)}] AOTGEN_ALIGNED({plan.alignment});",
            "",
        ]
    else:
        out += [
            f"static uint8_t* {p}_workspace;",
            "",
            f"int32_t {p}_set_workspace(void* workspace, size_t size) {{",
            f"  if (workspace == NULL || size < {P}_WORKSPACE_SIZE || ((uintptr_t)workspace % {P}_WORKSPACE_ALIGNMENT) != 0) {{",
            "    return -1;",
            "  }",
            f"  {p}_workspace = (uint8_t*)workspace;",
            "  return 0;",
            "}",
            "",
        ]
    if opts.io_in_arena:
        out += _io_buffer_accessors(graph, plan, sig, opts)
    out.append(f"int32_t {p}_run(struct {p}_inputs* inputs, struct {p}_outputs* outputs) {{")
    out.append(f"  uint8_t* ws = {p}_workspace;")
    checks = [] if opts.io_in_arena else ["inputs == NULL", "outputs == NULL"]
    checks += [] if opts.io_in_arena else [f"inputs->{t.c_name} == NULL" for t in sig.inputs]
    checks += [] if opts.io_in_arena else [f"outputs->{t.c_name} == NULL" for t in sig.outputs]
    if opts.workspace == "user":
        checks.append("ws == NULL")
    if checks:
        out.append(f"  if ({' || '.join(checks)}) {{")
        out.append("    return -1;")
        out.append("  }")
    if opts.workspace == "static" and plan.arena_bytes == 0:
        out.append("  (void)ws;")
    io_offsets = _io_offsets(graph, plan) if opts.io_in_arena else {}
    for (kind, i), off in io_offsets.items():
        if kind == TensorKind.INPUT:
            t = sig.inputs[i]
            out.append(f"  if (inputs != NULL && inputs->{t.c_name} != NULL) memcpy(ws + {off}, inputs->{t.c_name}, {t.nbytes});")

    def ref(tid: int, ctype: str) -> str:
        t = graph.tensors[tid]
        if t.kind in (TensorKind.INPUT, TensorKind.OUTPUT) and not opts.io_in_arena:
            io = sig.inputs if t.kind == TensorKind.INPUT else sig.outputs
            expr = f"{'inputs' if t.kind == TensorKind.INPUT else 'outputs'}->{io[t.io_index].c_name}"
        elif t.kind == TensorKind.CONSTANT:
            expr = _const_name(p, tid)
        else:
            expr = f"(ws + {plan.offset(tid)})"
        return f"({ctype})" + expr

    for call in graph.calls:
        if not call.kernel:
            src, dst = call.args
            n = graph.tensors[dst].nbytes
            out.append(f"  memcpy({ref(dst, 'void*')}, {ref(src, 'const void*')}, {n});")
            continue
        f = kernels[call.kernel]
        if len(f.params) != len(call.args):
            raise AotgenError(f"internal: {f.name} takes {len(f.params)} arguments, the graph passes {len(call.args)}")
        args = [ref(tid, ctype) for tid, (ctype, _) in zip(call.args, f.params)]
        out.append(f"  {f.name}({', '.join(args)});")
    for (kind, i), off in io_offsets.items():
        if kind == TensorKind.OUTPUT:
            t = sig.outputs[i]
            out.append(f"  if (outputs != NULL && outputs->{t.c_name} != NULL) memcpy(outputs->{t.c_name}, ws + {off}, {t.nbytes});")
    out.append("  return 0;")
    out.append("}")
    return "\n".join(out) + "\n"


def _io_offsets(graph: Graph, plan: MemoryPlan) -> dict[tuple[TensorKind, int], int]:
    """Arena offset of each model input/output, keyed by (kind, index), inputs first."""
    found = {}
    for kind in (TensorKind.INPUT, TensorKind.OUTPUT):
        for t in graph.of_kind(kind):
            if t.id in plan.placements:
                found[(kind, t.io_index)] = plan.offset(t.id)
    return found


def _io_buffer_accessors(graph: Graph, plan: MemoryPlan, sig: ModelSignature, opts: EmitOptions) -> list[str]:
    p = opts.prefix
    offsets = _io_offsets(graph, plan)
    out = []
    for kind, tensors, const in ((TensorKind.INPUT, sig.inputs, ""), (TensorKind.OUTPUT, sig.outputs, "const ")):
        for i, t in enumerate(tensors):
            if (kind, i) not in offsets:
                raise AotgenError(f"{kind.value} '{t.name}' is not used by any operator; it cannot live in the arena")
            at = f"({const}{t.c_type}*)({p}_workspace + {offsets[(kind, i)]})"
            if opts.workspace == "user":
                at = f"{p}_workspace == NULL ? NULL : {at}"
            out += [f"{const}{t.c_type}* {p}_{t.c_name}_buffer(void) {{", f"  return {at};", "}", ""]
    return out


def emit_library(kernel_source: str, graph: Graph, plan: MemoryPlan, sig: ModelSignature, opts: EmitOptions) -> str:
    """One translation unit, so kernels, weights and arena can all be static."""
    functions = parse_kernel_source(kernel_source)
    kernels_c, kernels = emit_kernels(functions, graph)
    parts = [
        f"/* {opts.prefix}_lib0.c: generated by aotgen. Kernels, weights and runner of model '{opts.prefix}'. */",
        *[f"#include <{h}>" for h in STD_INCLUDES],
        f'#include "{opts.prefix}.h"',
        "",
        ATTRIBUTE_MACROS,
        REQUANTIZE_HELPER if "aotgen_requantize" in kernel_source else "",
        "/* ---- operator kernels ---- */",
        kernels_c,
        "/* ---- weights (const: they stay in flash) ---- */",
        emit_constants(graph, opts),
        "/* ---- runner ---- */",
        emit_runner(graph, plan, sig, kernels, opts),
    ]
    return "\n".join(parts)
