"""TIR operator kernels -> plain C functions with typed pointer parameters (llvm_build.py makes objects).

TVM's default TIR pipeline wraps every kernel in the packed API (DLTensor unpacking, type codes,
TVMBackendAllocWorkspace): ~20x the code of the kernel itself. We instead
  1. schedule each kernel so injective producers are inlined and reduction epilogues run inside
     the spatial loops (intermediates shrink to a few elements),
  2. replace every buffer parameter by a typed data pointer,
  3. lift every remaining internal allocation into an extra pointer parameter (a "scratch"
     tensor the memory planner places in the arena), so kernels never touch the stack or heap
     for buffers and never call TVMBackendAllocWorkspace,
  4. run the s_tir/tirx lowering passes without MakePackedAPI, with padding tests moved out of
     the MAC loops (tir_rewrite.py) and, on DSP cores, int8 MAC loops turned into SMLAD dot
     products (int8_dot.py), and hand the result to codegen.
"""

from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx

from .int8_dot import use_dot_helper
from .macs import count_macs
from .tir_rewrite import bool_conditions, clip_guarded_loops, drop_dead_else, keep_nan, rebuild_stmt


def _c_fabs(op):
    """TVM's C codegen has no rule for tirx.fabs (Abs, Softsign, Softplus, IsInf, LpPool): libm's."""
    dtype = str(op.ty.dtype)
    return tirx.call_pure_extern(dtype, "fabsf" if dtype == "float32" else "fabs", op.args[0])


tirx.register_intrin_lowering("tirx.fabs", "c", f=_c_fabs, level=99)

# Allocations of at most this many elements stay local (register-like accumulators); all larger
# ones become scratch tensors in the arena.
LOCAL_ALLOC_MAX_ELEMENTS = 4


@dataclass
class ScratchBuffer:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass
class LoweredKernel:
    symbol: str
    func: tirx.PrimFunc
    scratch: list[ScratchBuffer]  # appended after the original parameters, in this order
    macs: int = 0  # multiply-accumulates per call (macs.py)


def schedule_for_mcu(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Inline injective blocks and move reduction epilogues under the spatial loops."""
    sch = s_tir.Schedule(func)
    try:
        root = sch.get_sblock("root")
    except Exception:  # noqa: BLE001 - no root block: a micro-kernel call (te.extern): nothing to schedule
        return func
    changed = True
    while changed:  # inlining one block can make another inlinable
        changed = False
        for block in sch.get_child_blocks(root):
            try:
                sch.compute_inline(block)
                changed = True
            except s_tir.ScheduleError:
                pass
    for block in sch.get_child_blocks(root):
        node = sch.get(block)
        n_spatial = sum(1 for iv in node.iter_vars if iv.iter_type == 0)
        if n_spatial == len(node.iter_vars) or n_spatial == 0:
            continue  # not a reduction (or a full reduction with no spatial loop to attach to)
        for consumer in sch.get_consumers(block):
            try:
                sch.reverse_compute_at(consumer, sch.get_loops(block)[n_spatial - 1])
            except s_tir.ScheduleError:
                pass
    # Initialize accumulators before the reduction loops rather than with an `if (first
    # iteration)` inside them: no branch in the inner loop, and gcc can see the init.
    for block in sch.get_child_blocks(root):
        _decompose_reductions(sch, block)
    return sch.mod["main"]


def _decompose_reductions(sch: s_tir.Schedule, block) -> None:
    node = sch.get(block)
    if getattr(node, "init", None) is not None:
        n_spatial = sum(1 for iv in node.iter_vars if iv.iter_type == 0)
        loops = sch.get_loops(block)
        if len(loops) > n_spatial:
            try:
                sch.decompose_reduction(block, loops[n_spatial])
            except s_tir.ScheduleError:
                pass
        return
    for child in sch.get_child_blocks(block):
        _decompose_reductions(sch, child)


def _unpack_params(func: tirx.PrimFunc, symbol: str) -> tirx.PrimFunc:
    """Buffer params -> typed data pointers, each bound back to its buffer with a DeclBuffer."""
    params, decls = [], []
    for p in func.params:
        if tirx.is_buffer_var(p):
            ptr = tirx.Var(p.name, tirx.buffer_data_pointer_type(p))
            params.append(ptr)
            decls.append(tirx.DeclBuffer(p, data=ptr))
        else:
            params.append(p)
    body = tirx.SeqStmt([*decls, func.body])
    new = tirx.PrimFunc(params, body, func.ret_type, attrs=func.attrs)
    # calling_conv != 0 (kDefault) is what keeps MakePackedAPI away, were it ever run.
    return new.with_attrs({"global_symbol": symbol, "tirx.noalias": True, "calling_conv": 0})


class _ScratchLifter:
    """Replaces AllocBuffer statements by DeclBuffers bound to new pointer parameters."""

    def __init__(self) -> None:
        self.params: list[tirx.Var] = []
        self.scratch: list[ScratchBuffer] = []

    def visit(self, s):
        if isinstance(s, tirx.AllocBuffer):
            buf = s.buffer
            shape = tuple(int(d) for d in buf.shape)
            n = 1
            for d in shape:
                n *= d
            if n <= LOCAL_ALLOC_MAX_ELEMENTS:
                return s
            ptr = tirx.Var(f"scratch{len(self.params)}", tirx.buffer_data_pointer_type(buf))
            self.params.append(ptr)
            self.scratch.append(ScratchBuffer(buf.name, shape, str(buf.dtype)))
            return tirx.DeclBuffer(buf, data=ptr)
        return rebuild_stmt(s, self.visit)


def _lift_scratch(func: tirx.PrimFunc) -> tuple[tirx.PrimFunc, list[ScratchBuffer]]:
    lifter = _ScratchLifter()
    body = lifter.visit(func.body)
    if not lifter.params:
        return func, []
    new = tirx.PrimFunc([*func.params, *lifter.params], body, func.ret_type, attrs=func.attrs)
    return new, lifter.scratch


def _structural_passes() -> list:
    """s_tir -> flat TIR (the default s_tir pipeline's CPU-relevant part, minus MakePackedAPI)."""
    return [
        s_tir.transform.CanonicalizeLoop(),
        s_tir.transform.LowerInitBlock(),
        s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
        s_tir.transform.ConvertBlocksToOpaque(),
        s_tir.transform.CompactBufferAllocation(),
        s_tir.transform.LowerMatchBuffer(),
        s_tir.transform.StmtSimplify(),
        s_tir.transform.LowerOpaqueBlock(),
        tirx.transform.FlattenBuffer(),
        # Relax shapes are int64; 32-bit MCUs want int32 loops and indices.
        tirx.transform.NarrowDataType(32),
        # Indices NarrowDataType cannot bound (computed from loaded values: Resize, take, reflect
        # pad) are narrowed too: no MCU tensor has 2^31 elements, and the C has no int64_t.
        tirx.transform.ForceNarrowIndexToInt32(),
    ]


# Hoist loop-invariant conditions, including those inside expressions, out of inner loops: a
# convolution's padding test `if_then_else(in_bounds(kh, kw), x, 0)` otherwise runs for every
# input channel (C ResNet: 157 M -> 91 M instructions on the Cortex-M7). The padded branch adds
# zero, so simplification leaves it empty.
_HOIST_CONFIG = {"s_tir.HoistExpression": {
    # Conjunctions split, so `kh`'s half of a padding test leaves the `kw` loop; see drop_dead_else.
    "hoisted_conditionals": (s_tir.transform.HoistedConditionals.IfElseStmt.value
                             | s_tir.transform.HoistedConditionals.IfElseExpr.value
                             | s_tir.transform.HoistedConditionals.BooleanExpression.value),
    "hoisted_let_bindings": s_tir.transform.HoistedLetBindings.All.value}}


def _stmt_pass(rewrite, name: str):
    return tirx.transform.prim_func_pass(lambda f, _m, _c: f.with_body(rewrite(f.body)), opt_level=0, name=name)


def has_dsp(target: tvm.target.Target) -> bool:
    """The core has the Arm DSP extension (SMLAD & co.): the whole-operator C kernels use it with
    either backend, MVE or not (M55 KWS with LLVM: 18.3 M instructions through MVE-vectorized TIR
    kernels, 5.8 M through the C kernels)."""
    return bool(target.attrs.get("feature.has_dsp", False))


def uses_dsp_helpers(target: tvm.target.Target) -> bool:
    """int8 MAC loops -> the SMLAD helpers, on cores with the DSP extension (C helper for the C
    backend, inlined IR for LLVM) -- except where LLVM vectorizes them for MVE itself, which is
    faster (M55 ResNet: 25.6 M instructions, against 42.9 M through the dot helper)."""
    mve_llvm = target.kind.name == "llvm" and bool(target.attrs.get("feature.has_mve", False))
    return has_dsp(target) and not mve_llvm


def _optimizing_passes(target: tvm.target.Target) -> list:
    dsp = uses_dsp_helpers(target)
    return [
        s_tir.transform.LoopPartition(),
        s_tir.transform.HoistExpression(),
        _stmt_pass(drop_dead_else, "DropDeadElse"),
        # Not for LLVM: it fully unrolls a guarded 3-tap loop, which a variable trip count stops
        # (KWS: C 19.4 -> 17.2 M instructions, LLVM 14.6 -> 15.4 M).
        *([_stmt_pass(clip_guarded_loops, "ClipGuardedLoops")] if target.kind.name == "c" else []),
        *([_stmt_pass(use_dot_helper, "UseDotHelper")] if dsp else []),
        tirx.transform.VectorizeLoop(False),
        tirx.transform.StorageRewrite(),
        tirx.transform.UnrollLoop(),
        tirx.transform.StmtSimplify(),
        tirx.transform.RemoveNoOp(),
        s_tir.transform.RewriteUnsafeSelect(),
        # After the simplifier, which would fold the NaN-keeping selects back into max/min.
        _stmt_pass(keep_nan, "KeepNaN"),
        _stmt_pass(bool_conditions, "BoolConditions"),
        tirx.transform.CommonSubexprElim(),
        tirx.transform.LowerTVMBuiltin(),
        tirx.transform.LowerIntrin(),
    ]


def lower_kernel(func: tirx.PrimFunc, symbol: str, target: tvm.target.Target) -> LoweredKernel:
    macs = count_macs(func)
    func = _unpack_params(schedule_for_mcu(func), symbol)
    mod = tvm.IRModule({symbol: func})
    mod = tirx.transform.BindTarget(target)(mod)
    mod = tvm.transform.Sequential(_structural_passes())(mod)
    lifted, scratch = _lift_scratch(mod[symbol])
    mod = tvm.IRModule({symbol: lifted})
    with tvm.transform.PassContext(config=_HOIST_CONFIG):
        mod = tvm.transform.Sequential(_optimizing_passes(target))(mod)
    return LoweredKernel(symbol, mod[symbol], scratch, macs)


def c_params(kernel: LoweredKernel) -> list[tuple[str, str]]:
    """(C type, name) of each parameter: typed pointers for buffers, scalars otherwise."""
    from .emit import c_type_of

    params = []
    for i, p in enumerate(kernel.func.params):
        ty = p.ty  # names come from model tensors and need not be C identifiers: use a{i}
        if hasattr(ty, "element_type"):
            params.append((f"{c_type_of(str(ty.element_type.dtype))}*", f"a{i}"))
        else:
            params.append((c_type_of(str(p.dtype)), f"a{i}"))
    return params


def tir_text(kernels: list[LoweredKernel]) -> str:
    """The kernels' TIR as text (to find which C helpers they call)."""
    return "\n".join(k.func.script() for k in kernels)


def build_c(kernels: list[LoweredKernel], target: tvm.target.Target) -> str:
    """Raw C source from TVM's `c` codegen (emit.clean_kernel_source makes it freestanding)."""
    mod = tvm.IRModule({k.symbol: k.func for k in kernels})
    return tvm.get_global_func("target.build.c")(mod, target).inspect_source()
