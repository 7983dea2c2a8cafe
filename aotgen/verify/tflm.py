"""TFLite Micro's own interpreter (PyPI `tflite-micro`, the `aotgen[tflm]` extra) as a reference:
the runtime microcontroller builds of a model are usually checked against, and the one that loads
models LiteRT refuses (e.g. int8 bias tensors with a per-axis quantized_dimension LiteRT rejects)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import MissingSetupError

NAME = "TFLite Micro"
# The Python wrapper sizes the arena at 10x the model by default, too small for models with few
# weights and large activations; host memory is cheap (only what is touched is committed).
MIN_ARENA_BYTES = 64 << 20


class Refused(Exception):
    """The interpreter will not load the model; the message is its reason."""


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:
        raise MissingSetupError(
            f"the TFLite Micro reference needs tflite-micro: `pip install --pre tflite-micro` (or install aotgen "
            f"with the [tflm] extra) ({e})") from None
    return runtime


@contextlib.contextmanager
def _c_stderr() -> Iterator[list[str]]:
    """TFLite Micro says why it fails on the C library's stderr (MicroPrintf), while its exception
    only says that it failed: collect those lines for the message, and keep them off the terminal."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            # "tensorflow/lite/micro/kernels/conv_common.cc Hybrid models are not supported ..."
            lines += [re.sub(r"^\S+\.(cc|h|cpp|c)(:\d+)?\s+", "", ln).strip()
                      for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]


def _reason(e: Exception, said: list[str]) -> str:
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return f"{text}: {said[0]}" if said else text


def run_tflm(model_path: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Outputs of TFLite Micro's interpreter for each sample (one array per model input)."""
    import tflite  # the schema package the compiler reads models with

    runtime = _runtime()
    data = model_path.read_bytes()
    n_outputs = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0).OutputsLength()
    with _c_stderr() as said:
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=max(10 * len(data), MIN_ARENA_BYTES))
        except Exception as e:
            raise Refused(_reason(e, said)) from e
    results = []
    for sample in samples:
        with _c_stderr() as said:
            try:
                interp.reset()  # every inference from the initial state (an LSTM's variable tensors)
                for i, x in enumerate(sample):
                    d = interp.get_input_details(i)
                    interp.set_input(np.ascontiguousarray(x.reshape(d["shape"]), dtype=d["dtype"]), i)
                interp.invoke()
                results.append([np.array(interp.get_output(j), copy=True) for j in range(n_outputs)])
            except Exception as e:
                raise RuntimeError(_reason(e, said)) from e
    return results
