"""Reference interpreters the generated code is checked against: LiteRT's reference kernels for
TFLite (TFLite Micro's interpreter when LiteRT refuses the model, or when asked for), onnxruntime
for ONNX."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AotgenError, MissingSetupError, NoReferenceError, ToolFailedError
from .tflm import NAME as TFLM_NAME
from .tflm import Refused, run_tflm

# --reference: "auto" is LiteRT for TFLite (TFLite Micro if LiteRT refuses the model), onnxruntime for ONNX.
REFERENCES = ("auto", "litert", "tflm", "onnxruntime")
NAMES = {"litert": "ai-edge-litert (reference kernels)", "tflm": TFLM_NAME, "onnxruntime": "onnxruntime"}
EXPECTED = "the saved outputs (--expected)"


@dataclass
class ReferenceRun:
    name: str  # the interpreter that produced `outputs`, as reports show it
    outputs: list[list[np.ndarray]]  # per sample, one array per model output
    note: str | None = None  # why it is not the one asked for (LiteRT refused the model)


def _need(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MissingSetupError(
            f"the reference interpreter needs {package}: `pip install {package}` "
            "(or install aotgen with the [verify] extra)"
        ) from None


def is_onnx(model_path: str | Path) -> bool:
    return Path(model_path).suffix.lower() == ".onnx"


def choose_reference(model_path: str | Path, reference: str = "auto") -> str:
    """The interpreter `reference` means for this model; a mismatch (tflm for ONNX) is a usage error."""
    if reference not in REFERENCES:
        raise AotgenError(f"unknown reference '{reference}' (one of {', '.join(REFERENCES)})")
    onnx = is_onnx(model_path)
    if reference == "auto":
        return "onnxruntime" if onnx else "litert"
    if onnx != (reference == "onnxruntime"):
        fmt, fits = ("an ONNX", "onnxruntime") if onnx else ("a TFLite", "litert or tflm")
        raise AotgenError(f"--reference {reference} cannot run {Path(model_path).name}, {fmt} model (use {fits})")
    return reference


def run_reference(model_path: str | Path, inputs: list[list[np.ndarray]],
                  reference: str = "auto") -> list[list[np.ndarray]]:
    """Outputs of the reference interpreter for each sample (a list of input arrays each)."""
    return reference_outputs(model_path, inputs, reference).outputs


def reference_outputs(model_path: str | Path, samples: list[list[np.ndarray]], reference: str = "auto") -> ReferenceRun:
    """The reference interpreter's outputs, with its name and, after a fallback, a one-line note."""
    model_path = Path(model_path)
    kind = choose_reference(model_path, reference)
    try:
        return ReferenceRun(NAMES[kind], _run(kind, model_path, samples))
    except Refused as e:
        if reference != "auto" or kind != "litert":
            raise ToolFailedError(f"{NAMES[kind]} refuses {model_path.name}: {_short(str(e))}") from None
        refusal = f"ai-edge-litert refuses {model_path.name} ({_short(str(e))})"
    try:
        outputs = _run("tflm", model_path, samples)
    except MissingSetupError:
        raise MissingSetupError(f"{refusal}; TFLite Micro's interpreter may run it: `pip install --pre tflite-micro` "
                                "(the [tflm] extra), or compare with saved outputs (--expected)") from None
    except Refused as e:
        raise ToolFailedError(f"{refusal}, and so does TFLite Micro ({_short(str(e))})") from None
    return ReferenceRun(NAMES["tflm"], outputs, note=f"{refusal}; the reference is TFLite Micro's interpreter")


def check_expected_options(count: int, reference: str) -> None:
    """--expected replaces the reference interpreter, for the --inputs samples only."""
    if reference != "auto":
        raise AotgenError(f"--expected and --reference {reference} are two references: give one")
    if count:
        raise AotgenError("--expected holds the outputs of the --inputs samples only: drop --count "
                          "(random samples need a reference interpreter)")


@contextlib.contextmanager
def keeping_outputs(groups: list) -> Iterator[None]:
    """Around finding and running the reference, once the outputs under test exist: a failure there
    (no model file, interpreter missing or refusing) becomes NoReferenceError carrying `groups`,
    so the caller can still save what was computed."""
    try:
        yield
    except NoReferenceError:
        raise
    except AotgenError as e:
        raise NoReferenceError(e, groups) from e


def _first_message(text: str) -> str:
    """LiteRT runs its reporter's messages together ("... Was 3.Tensor 33 has ...") and repeats
    them per tensor: the first one."""
    return next((m.strip() for m in re.split(r"(?<=\.)(?=[A-Z])|\n", text) if m.strip()), text)


def _short(text: str) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= 200 else first[:200] + "…"


def _run(kind: str, model_path: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Raises Refused when the interpreter will not load the model, ToolFailedError when it fails later."""
    runner = {"litert": _run_litert, "tflm": run_tflm, "onnxruntime": _run_onnx}[kind]
    try:
        return runner(model_path, samples)
    except (AotgenError, Refused):
        raise
    except Exception as e:  # the interpreter fails on the model or the input: its reason, in one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ToolFailedError(f"the reference interpreter ({NAMES[kind]}) cannot run {model_path.name}: "
                              f"{_short(first)}") from e


def _run_litert(model_path: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    interp_mod = _need("ai_edge_litert.interpreter", "ai-edge-litert")
    try:
        # BUILTIN_REF: TFLite's reference kernels, the ones int8 results are defined by.
        interp = interp_mod.Interpreter(
            model_path=str(model_path),
            experimental_op_resolver_type=interp_mod.OpResolverType.BUILTIN_REF,
            num_threads=1,
        )
        interp.allocate_tensors()
    except Exception as e:  # LiteRT's checks refuse the model: TFLite Micro may still take it
        raise Refused(_first_message(str(e))) from e
    ins, outs = interp.get_input_details(), interp.get_output_details()
    results = []
    for sample in samples:
        # Every inference from the initial state: a model's variable tensors (an LSTM's states)
        # would otherwise carry over from the previous sample, which the compiled model never does.
        interp.reset_all_variables()
        for d, x in zip(ins, sample):
            interp.set_tensor(d["index"], x.reshape(d["shape"]).astype(d["dtype"]))
        interp.invoke()
        results.append([interp.get_tensor(d["index"]).copy() for d in outs])
    return results


def _run_onnx(model_path: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    ort = _need("onnxruntime", "onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    results = []
    for sample in samples:
        out = sess.run(None, {n: x for n, x in zip(names, sample)})
        results.append([np.asarray(o) for o in out])
    return results
