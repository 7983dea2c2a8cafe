"""Model files checked before TVM sees them: a corrupt or truncated file, or a model that uses
what no importer handles (custom operators, float16 tensors), is refused in one line naming what
and where, instead of failing somewhere inside TVM.

TFLite: the schema's tables walked with the `tflite` package, every offset, index and vector
length checked against the file (the checks of TFLite's own flatbuffer verifier that matter to an
importer; no Python binding of it exists). ONNX: onnx.checker, ONNX's own verifier.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UnsupportedModelError

# tflite.TensorType values TVM's importer and aotgen's code do not handle.
_FLOAT16, _FLOAT64, _COMPLEX64, _STRING, _RESOURCE, _VARIANT = 1, 10, 8, 5, 13, 14
_UNSUPPORTED_TYPES = {_FLOAT16: "float16", _FLOAT64: "float64", _COMPLEX64: "complex64", _STRING: "string",
                      _RESOURCE: "resource", _VARIANT: "variant"}
CUSTOM = 32  # BuiltinOperator.CUSTOM


class InvalidModel(UnsupportedModelError):
    """The file is not a well-formed model of its format."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise InvalidModel(what)


def verify_tflite(path: Path, data: bytes):
    """The parsed tflite.Model, after checking its structure; raises InvalidModel (corrupt file)
    or UnsupportedModelError (custom operators, unsupported tensor types)."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    size = len(data)
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        n_buffers, n_codes = model.BuffersLength(), model.OperatorCodesLength()
        _check(0 < model.SubgraphsLength() <= 64, "no subgraph")
        _check(n_buffers * 4 <= size and n_codes * 4 <= size, "table sizes beyond the file")
        for b in range(n_buffers):
            buf = model.Buffers(b)
            if buf.Offset() > 1:  # data stored after the flatbuffer (models over 2 GB)
                _check(buf.Offset() + buf.Size() <= size, f"buffer {b} lies beyond the end of the file")
            else:
                _check(buf.DataLength() <= size, f"buffer {b} is longer than the file")
                if buf.DataLength():
                    buf.DataAsNumpy()
        codes = []
        for c in range(n_codes):
            oc = model.OperatorCodes(c)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            custom = oc.CustomCode()
            codes.append((code, custom.decode(errors="replace") if custom else None))
        names = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
        for s in range(model.SubgraphsLength()):
            sg = model.Subgraphs(s)
            n_tensors = sg.TensorsLength()
            _check(n_tensors * 4 <= size and sg.OperatorsLength() * 4 <= size, f"subgraph {s}: sizes beyond the file")
            types = []
            for t in range(n_tensors):
                tensor = sg.Tensors(t)
                _check(0 <= tensor.Buffer() < max(n_buffers, 1), f"tensor {t} names buffer {tensor.Buffer()} of {n_buffers}")
                _check(tensor.ShapeLength() <= 16, f"tensor {t} has rank {tensor.ShapeLength()}")
                shape = tensor.ShapeAsNumpy() if tensor.ShapeLength() else []
                _check(all(-1 <= int(d) < 2**31 for d in shape), f"tensor {t} has shape {list(shape)}")
                (tensor.Name() or b"").decode("utf-8")  # names become C identifiers and messages
                q = tensor.Quantization()
                if q is not None:
                    _check(q.ScaleLength() <= size and q.ZeroPointLength() <= size, f"tensor {t}: quantization beyond the file")
                    if q.ScaleLength():
                        q.ScaleAsNumpy()
                    if q.ZeroPointLength():
                        q.ZeroPointAsNumpy()
                types.append(tensor.Type())
            for edge in (sg.InputsAsNumpy() if sg.InputsLength() else [],
                         sg.OutputsAsNumpy() if sg.OutputsLength() else []):
                _check(all(0 <= int(i) < n_tensors for i in edge), f"subgraph {s}: an input or output tensor out of range")
            for i in range(sg.OperatorsLength()):
                op = sg.Operators(i)
                _check(0 <= op.OpcodeIndex() < n_codes, f"layer {i} names operator code {op.OpcodeIndex()} of {n_codes}")
                code, custom = codes[op.OpcodeIndex()]
                name = custom if code == CUSTOM else names.get(code, f"BUILTIN_{code}")
                for idx in [*(op.InputsAsNumpy() if op.InputsLength() else []),
                            *(op.OutputsAsNumpy() if op.OutputsLength() else [])]:
                    _check(-1 <= int(idx) < n_tensors, f"layer {i} ({name}) uses tensor {int(idx)} of {n_tensors}")
                    if int(idx) >= 0 and types[int(idx)] in _UNSUPPORTED_TYPES:
                        raise UnsupportedModelError(
                            f"{path}: layer {i} ({name}) uses {_UNSUPPORTED_TYPES[types[int(idx)]]} tensors, which "
                            "aotgen does not compile; convert the model with float32 or int8 tensors")
    except UnsupportedModelError as e:
        if isinstance(e, InvalidModel):
            raise InvalidModel(f"{path} is not a valid TFLite model: {e}") from None
        raise
    except Exception as e:  # a corrupt flatbuffer raises anything from struct.error to IndexError
        raise InvalidModel(f"{path} is not a valid TFLite model: {type(e).__name__} reading it (truncated or "
                           "corrupt?)") from None
    customs = [(i, codes[model.Subgraphs(0).Operators(i).OpcodeIndex()][1])
               for i in range(model.Subgraphs(0).OperatorsLength())
               if codes[model.Subgraphs(0).Operators(i).OpcodeIndex()][0] == CUSTOM]
    if customs:
        listed = ", ".join(f"{name} (layer {i})" for i, name in customs[:6]) + (" …" if len(customs) > 6 else "")
        raise UnsupportedModelError(f"{path}: custom operators {listed}: a TFLite Micro or application extension, "
                                    "which aotgen cannot compile")
    return model


def first_line(e: Exception) -> str:
    """The line of an exception's text that says what failed (TVM's end with the check that fired)."""
    # TVM's printer notes omitted metadata inside the message; the note is noise here.
    text = str(e).replace("\n# Metadata omitted. Use show_meta=True in script() method to show it.", "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("Traceback", "  File"))]
    return (lines[-1] if lines else type(e).__name__)[:300]
