"""The C helper functions generated kernels call (TIR `call_pure_extern`), read from runtime/*.h.

The helpers are real C in runtime/ (compiled and unit-tested on their own), each a `static inline`
function `aotgen_<name>`; in a model they are named `<prefix>_<name>`, so that
kernels built by LLVM (which reference them as external symbols) still keep every symbol under
the model's prefix. The C backend emits them `static inline`; the LLVM backend emits them as
external functions in the C glue. All of them use 32-bit arithmetic only (no int64_t), with
32-bit literals (UINT32_C) so they stay right where `int` is 16 bits (AVR); where a GNU C
compiler targets Thumb-2, the 64-bit product is one UMULL instruction.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from tvm import tirx

_prefix: ContextVar[str] = ContextVar("aotgen_helper_prefix", default="aotgen")


@contextlib.contextmanager
def symbol_prefix(prefix: str) -> Iterator[None]:
    """Name the helpers that kernels created inside this block call `<prefix>_<name>`."""
    token = _prefix.set(prefix)
    try:
        yield
    finally:
        _prefix.reset(token)


def call(dtype: str, name: str, *args):
    """A TIR call of helper `name` (e.g. "requantize") under the current model's prefix."""
    if f"aotgen_{name}" not in HELPERS:
        raise KeyError(f"no C helper aotgen_{name}")
    return tirx.call_pure_extern(dtype, f"{_prefix.get()}_{name}", *args)


def call_kernel(name: str, *args):
    """A TIR call of micro-kernel `name` (e.g. "conv1x1_s8"), which writes through its pointer
    arguments: not pure, so never removed or merged."""
    if f"aotgen_{name}" not in HELPERS:
        raise KeyError(f"no C kernel aotgen_{name}")
    return tirx.call_extern("int32", f"{_prefix.get()}_{name}", *args)


@dataclass(frozen=True)
class Helper:
    name: str
    source: str  # the function's definition, as it is in its header
    needs: tuple[str, ...]  # the helpers it calls


RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
# Headers in dependency order (a helper may call those of earlier headers).
HEADERS = ("aotgen_fixedpoint.h", "aotgen_softmax.h", "aotgen_quantize.h", "aotgen_dot.h", "aotgen_dsp.h", "aotgen_conv_s8.h",
           "aotgen_conv_gemm_s8.h", "aotgen_depthwise_s8.h", "aotgen_fc_s8.h", "aotgen_elementwise_s8.h",
           "aotgen_lstm_s8.h")
# (`static inline` may carry always_inline: a body specialized per call site by constant arguments)
_DEFINITION = re.compile(r"^static inline (?:__attribute__\(\(always_inline\)\) )?[^(]*\b(aotgen_\w+)\(.*?^}\n",
                         re.M | re.S)


def read_helpers(headers: tuple[str, ...] = HEADERS) -> dict[str, Helper]:
    """Every `static inline aotgen_*` definition of the runtime headers, with what it calls."""
    helpers: dict[str, Helper] = {}
    for header in headers:
        for m in _DEFINITION.finditer((RUNTIME_DIR / header).read_text()):
            name, source = m.group(1), m.group(0)
            calls = set(re.findall(r"\b(aotgen_\w+)\(", source)) - {name}
            helpers[name] = Helper(name, source, tuple(sorted(calls)))
    return helpers


HELPERS: dict[str, Helper] = read_helpers()


def used_by(kernel_source: str, prefix: str, external: bool = False, provided: tuple[str, ...] = (),
            linked_source: str | None = None) -> str:
    """Definitions of every helper the source calls (and what those call), in dependency order,
    renamed to the model's prefix; `external` (LLVM kernels) makes those that `linked_source`
    (default: all the source) calls linkable. Helpers named in `provided` (without aotgen_) are
    defined elsewhere and left out."""
    order: list[str] = []
    called: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in HELPERS[name].needs:
            visit(dep)
        order.append(name)

    for name in HELPERS:
        short = name[len("aotgen_"):]
        if short not in provided and re.search(rf"\b{prefix}_{short}\b", kernel_source):
            visit(name)
            if re.search(rf"\b{prefix}_{short}\b", kernel_source if linked_source is None else linked_source):
                called.add(name)

    def definition(name: str) -> str:
        # Only what the kernels call is linkable; the rest stays static inline, which gcc inlines
        # (an external helper is kept out of line: ad01's FC epilogue, 58 -> 30 instructions).
        source = HELPERS[name].source
        return source.replace("static inline ", "", 1) if external and name in called else source

    return "\n".join(definition(n) for n in order).replace("aotgen_", f"{prefix}_")

