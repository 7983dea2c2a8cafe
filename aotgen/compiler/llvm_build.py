"""Kernels -> ELF objects with TVM's bundled LLVM, tuned for microcontroller flash.

TVM 0.27 runs LLVM's default<O2> pipeline, and on M-class cores LLVM's Arm cost model unrolls
every small loop (fully when the trip count is small, by up to 16 otherwise): 1-3.4x the code of
the C backend (gcc -O2). Two levers reach LLVM through TVM:

* `cl-opt` target options. TVM sets an option's value without counting an occurrence, so only
  options LLVM reads by value take effect (`-unroll-threshold` does not; `-unroll-threshold-
  default` does).
* `pragma_import_llvm`: IR that TVM links into the module before optimizing. We import the
  helpers the kernels call most (llvm_helpers.py; inlined) and a profile summary, and set
  `-force-pgso`: LLVM's profile-guided size optimization then treats every block as cold, which
  is -Os for the IR passes (no partial or runtime unrolling), while the functions keep their
  speed attributes.

Loop *full* unrolling ignores the profile, and it is where the speed is: unrolling a 16-channel
MAC loop makes int8 ResNet 25% faster. So kernels are split: "hot" kernels (integer kernels
that run for most of the time) keep LLVM's full unrolling; all others are built with no
unrolling at all. Each tier is one object. Float kernels are never hot: their MAC is one VFMA
and gcc's C for them is compact, so unrolled copies would cost more code than the whole C kernel
(float ResNet's code grows to 1.6x the C backend's), while the integer kernels' requantization
epilogues leave room for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tvm
from tvm import tirx

from .kernels import LoweredKernel
from .llvm_helpers import helpers_ir
from .tir_rewrite import rebuild_stmt

# An integer kernel is hot when its innermost statements run at least this many times per
# inference (a 16x16 fully connected layer runs 256; a 640x128 one 81,920).
HOT_KERNEL_WORK = 16384

# LLVM's ProfileSummary module flag in the form its tests use; the counts only need to be a
# consistent summary, since -force-pgso never reads them.
_PROFILE_SUMMARY_IR = """
!llvm.module.flags = !{!0}
!0 = !{i32 1, !"ProfileSummary", !1}
!1 = !{!2, !3, !4, !5, !6, !7, !8, !9}
!2 = !{!"ProfileFormat", !"InstrProf"}
!3 = !{!"TotalCount", i64 10000}
!4 = !{!"MaxCount", i64 10}
!5 = !{!"MaxInternalCount", i64 1}
!6 = !{!"MaxFunctionCount", i64 1000}
!7 = !{!"NumCounts", i64 3}
!8 = !{!"NumFunctions", i64 3}
!9 = !{!"DetailedSummary", !10}
!10 = !{!11, !12, !13}
!11 = !{i32 10000, i64 100, i32 1}
!12 = !{i32 999000, i64 100, i32 1}
!13 = !{i32 999999, i64 1, i32 2}
"""


@dataclass(frozen=True)
class Tuning:
    name: str
    cl_opts: tuple[str, ...]
    arm_mattr: tuple[str, ...] = ()  # target features added on Arm (thumb) targets


# Size-optimized codegen everywhere; LLVM's default full unrolling (threshold 150) of hot loops.
HOT = Tuning("hot", ("-force-pgso:bool=true",))
# No unrolling at all: full-unroll threshold 0, no "unrolling simplifies it" analysis, and no
# forced unrolling of small loops by the Arm cost model. And no 8-byte alignment of loop heads
# (the Cortex-M7's tuning; the nop padding is 8% of float kernels' code), and a fused multiply-add
# where the Cortex-M4's tuning would split it into two instructions.
COLD = Tuning("cold", ("-force-pgso:bool=true", "-unroll-threshold-default:uint=0",
                       "-unroll-max-iteration-count-to-analyze:uint=0", "-arm-force-unroll-threshold:uint=0"),
              arm_mattr=("-branch-align-64", "-slowfpvfmx"))


@dataclass(frozen=True)
class KernelObject:
    path: Path
    tuning: str
    kernels: tuple[str, ...]


def kernel_work(func: tirx.PrimFunc) -> int:
    """How many times the kernel's stores execute: the product of the enclosing loops' extents,
    summed over its stores."""
    total = 0

    def visit(stmt, times: int):
        nonlocal total
        if isinstance(stmt, tirx.BufferStore):
            total += times
        if isinstance(stmt, tirx.For):
            times *= stmt.extent.value if isinstance(stmt.extent, tirx.IntImm) else 1
        rebuild_stmt(stmt, lambda child: visit(child, times))  # walks the children; changes nothing
        return stmt

    visit(func.body, 1)
    return total


def is_hot(kernel: LoweredKernel) -> bool:
    computes_in_float = any(str(getattr(p.ty, "element_type", p).dtype).startswith(("float", "bfloat"))
                            for p in kernel.func.params)
    return not computes_in_float and kernel_work(kernel.func) >= HOT_KERNEL_WORK


def calls_a_c_kernel(kernel: LoweredKernel) -> bool:
    """Whether the kernel only calls a C micro-kernel (a te.extern of runtime/*.h: a call, no loop,
    no store). Those go into the library's C glue, not an object (pipeline.py): there gcc sees the
    call's constant arguments and specializes the kernel as in the C backend, where an object
    would call one generic copy (ad01 on mps2_an500: 475 k -> 428 k instructions)."""
    seen = {"work": False, "call": False}

    def visit(stmt):
        if isinstance(stmt, (tirx.For, tirx.BufferStore, tirx.While)):
            seen["work"] = True
        value = getattr(stmt, "value", None) if isinstance(stmt, tirx.Evaluate) else None
        if getattr(getattr(value, "op", None), "name", "") == "tirx.call_extern":
            seen["call"] = True
        rebuild_stmt(stmt, visit)  # walks the children; changes nothing
        return stmt

    visit(kernel.func.body)
    return seen["call"] and not seen["work"]


def build_llvm_objects(kernels: list[LoweredKernel], target: dict, lib_dir: Path, prefix: str) -> list[KernelObject]:
    """One object per tuning tier that has kernels: `<prefix>_kernels.o` (hot) and
    `<prefix>_kernels_cold.o`."""
    tiers = {HOT: [], COLD: []}
    for k in kernels:
        tiers[HOT if is_hot(k) else COLD].append(k)
    objects = []
    for tuning, members in tiers.items():
        if not members:
            continue
        path = lib_dir / f"{prefix}_kernels{'' if tuning is HOT else '_cold'}.o"
        build_llvm_object(members, _tier_target(target, tuning), path, prefix)
        objects.append(KernelObject(path, tuning.name, tuple(k.symbol for k in members)))
    return objects


def _tier_target(target: dict, tuning: Tuning) -> tvm.target.Target:
    tier = {**target, "cl-opt": list(tuning.cl_opts)}
    if tuning.arm_mattr and str(target.get("mtriple", "")).startswith("thumb"):
        tier["mattr"] = [*target.get("mattr", []), *tuning.arm_mattr]
    return tvm.target.Target(tier)


def build_llvm_object(kernels: list[LoweredKernel], target: tvm.target.Target, path: Path, prefix: str) -> None:
    """An ELF relocatable object for the target CPU from TVM's bundled LLVM."""
    first = kernels[0]
    # The imported IR rides on the first kernel's body; TVM links it in before optimizing.
    imported = helpers_ir(prefix, dsp=bool(target.attrs.get("feature.has_dsp", False))) + _PROFILE_SUMMARY_IR
    first_with_import = first.func.with_body(
        tirx.AttrStmt(tvm.ir.StringImm("aotgen"), "pragma_import_llvm", tvm.ir.StringImm(imported), first.func.body))
    mod = tvm.IRModule({k.symbol: first_with_import if k is first else k.func for k in kernels})
    tvm.get_global_func("target.build.llvm")(mod, target).write_to_file(str(path))
    if str(target.attrs.get("mtriple", "")).startswith("thumb"):
        _strip_arm_unwind_tables(path)


def _strip_arm_unwind_tables(path: Path) -> None:
    """Kernels never unwind, but LLVM's .ARM.exidx entries reference __aeabi_unwind_cpp_pr0, which
    would link libgcc's unwinder (and need __exidx_* symbols) into the firmware."""
    from ..toolchain import run

    run(["arm-none-eabi-objcopy", "--remove-section=.ARM.exidx*", "--remove-section=.ARM.extab*",
         "--strip-symbol=__aeabi_unwind_cpp_pr0", str(path)], 60)
