"""The hottest C helpers in LLVM IR, inlined into the kernels that LLVM builds.

LLVM-built kernels would otherwise call the C helpers (c_helpers.py, int8_dot.py) across the
object boundary, once per output element or per dot product. So LLVM gets requantize and
requantize_single (with native 64-bit arithmetic, one SMULL on Cortex-M3 and up, the way TFLite
writes them) and, on DSP cores, dot_s8 (with the Arm DSP intrinsics) as IR (runtime/*.ll); TVM links imported
IR in as always-inline definitions that are not emitted. Both forms are tested bit-exact.
"""

from __future__ import annotations

from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

# Helper names (as in c_helpers, without the aotgen_ prefix) that runtime/<name>.ll defines.
INLINED = ("requantize", "requantize_single", "dot_s8")


def helpers_ir(prefix: str, dsp: bool) -> str:
    """The IR of the INLINED helpers, named under the model's prefix (dot_s8 only on DSP cores)."""
    names = INLINED if dsp else tuple(n for n in INLINED if n != "dot_s8")
    return "\n".join((RUNTIME_DIR / f"{n}.ll").read_text() for n in names).replace("@PREFIX_", f"@{prefix}_")
