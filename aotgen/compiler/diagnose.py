"""Which layer made TVM fail? Lowering and code generation work on the whole model, and TVM's
errors name neither the model's operator nor its layer. After a failure, each operator call of
the imported graph is lowered (and generated) alone, in model order; the first that fails again
is the culprit, named with the layer the frontend recorded for it."""

from __future__ import annotations

from collections.abc import Callable

import tvm
from tvm import relax

from ..errors import AotgenError
from .frontend import ImportedModel
from .model_check import first_line


def _single_call_module(mod: tvm.IRModule, call: relax.Call) -> tvm.IRModule:
    """A module whose main computes `call` alone, its free variables as parameters, with the
    model's other functions (the PrimFuncs of integer kernels) beside it."""
    free = relax.analysis.free_vars(call)
    params = [relax.Var(v.name, v.ty) for v in free]
    new = dict(zip(free, params))

    def arg(a):
        if isinstance(a, relax.Var):
            return new[a]
        if isinstance(a, relax.Tuple):
            return relax.Tuple([arg(f) for f in a.fields])
        return a

    body = relax.Call(call.op, [arg(a) for a in call.args], call.attrs, call.ty_args)
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(body)
        bb.emit_func_output(out)
    single = bb.get()
    for gvar, func in mod.functions.items():
        if gvar.name_hint != "main":
            single[gvar] = func
    return single


def failing_layer(imported: ImportedModel, step: Callable[[tvm.IRModule], object]) -> str | None:
    """'<layer> could not be <...>: <TVM's reason>' for the first operator call that `step` (the
    compile step that failed, applied to a one-call module) fails on; None when none fails alone."""
    bindings = [b for block in imported.mod["main"].body.blocks for b in block.bindings]
    layer_at = {name: where for name, where in imported.layers}
    for b in bindings:
        if not (isinstance(b.value, relax.Call) and isinstance(b.value.op, tvm.ir.Op)):
            continue
        try:
            module = _single_call_module(imported.mod, b.value)
        except Exception:  # noqa: BLE001 - a call we cannot isolate (a bug here): not the culprit
            continue
        try:
            step(module)
        except AotgenError as e:
            reason = str(e)
        except Exception as e:  # noqa: BLE001 - TVM's own errors, the thing being diagnosed
            reason = first_line(e)
        else:
            continue
        layer = _layer_of(b.var.name, bindings, layer_at)
        return f"{layer or 'operator ' + b.value.op.name}: {reason}"
    return None


def _layer_of(var: str, bindings: list, layer_at: dict[str, str]) -> str | None:
    """The layer a binding belongs to: the frontend records each layer's last binding, and a
    layer's bindings come before it."""
    names = [b.var.name for b in bindings]
    for name in names[names.index(var):]:
        if name in layer_at:
            return layer_at[name]
    return None
