"""Reference interpreters the generated code is checked against: LiteRT's reference kernels for
TFLite, onnxruntime for ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AotgenError, MissingSetupError, ToolFailedError


def _need(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MissingSetupError(
            f"the reference interpreter needs {package}: `pip install {package}` "
            "(or install aotgen with the [verify] extra)"
        ) from None


def run_reference(model_path: str | Path, inputs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Outputs of the reference interpreter for each sample (a list of input arrays each)."""
    model_path = Path(model_path)
    onnx = model_path.suffix.lower() == ".onnx"
    try:
        return _run_onnx(model_path, inputs) if onnx else _run_tflite(model_path, inputs)
    except AotgenError:
        raise
    except Exception as e:  # the interpreter refuses the model or the input: its reason, in one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        first = first if len(first) <= 200 else first[:200] + "…"
        raise ToolFailedError(f"the reference interpreter ({reference_name(onnx)}) cannot run {model_path.name}: "
                              f"{first}") from e


def reference_name(onnx: bool) -> str:
    return "onnxruntime" if onnx else "ai-edge-litert (reference kernels)"


def _run_tflite(model_path: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    interp_mod = _need("ai_edge_litert.interpreter", "ai-edge-litert")
    # BUILTIN_REF: TFLite's reference kernels, the ones int8 results are defined by.
    interp = interp_mod.Interpreter(
        model_path=str(model_path),
        experimental_op_resolver_type=interp_mod.OpResolverType.BUILTIN_REF,
        num_threads=1,
    )
    interp.allocate_tensors()
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
