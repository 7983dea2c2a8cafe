"""Which operators aotgen compiles, read from the compiler itself (the importers' converter maps,
the int8 tables of quantized/ and qdq.py, the refusals of frontend.py and model_check.py), for
docs/operators.md: `python docs/make_operators_md.py` writes it, tests/test_operators_doc.py
keeps it equal to what the code supports."""

from __future__ import annotations

from dataclasses import dataclass

CUSTOM_OPS = frozenset({"CUSTOM"})  # model_check.py refuses custom operators by their code


@dataclass(frozen=True)
class OperatorSupport:
    name: str
    float: str  # "yes", or "refused: <why>"
    int8: str  # how an int8 (TFLite) or QDQ (ONNX) layer is compiled, or "refused: <why>"


def _first(name: str, rules: list[tuple[frozenset[str] | set[str], str]], default: str | None) -> str | None:
    """The label of the first rule whose operators include `name`."""
    return next((label for ops, label in rules if name in ops), default)


def tflite_operators() -> list[OperatorSupport]:
    """Every TFLite builtin operator of the schema aotgen reads (the `tflite` package)."""
    from tflite.BuiltinOperator import BuiltinOperator

    from .frontend import MARKER_OPS, SUBGRAPH_OPS, tflite_converters
    from .quantized import INTEGER_ONLY_INT8_OPS, LAYOUT_ONLY_INT8_OPS, IntegerConverters

    converted, quantized = tflite_converters()
    integer = frozenset(IntegerConverters.INTEGER_CONVERTERS) | INTEGER_ONLY_INT8_OPS
    names = sorted(k for k in vars(BuiltinOperator) if not k.startswith("_"))
    refusals = [(CUSTOM_OPS, "refused: custom operator"), (SUBGRAPH_OPS, "refused: control flow (subgraphs)"),
                (MARKER_OPS, "refused: not a tensor operator"), (set(names) - converted, "refused: no converter")]
    int8_ways = [(integer, "integer"), (LAYOUT_ONLY_INT8_OPS, "integer (moves bytes)"),
                 (quantized, "TVM's quantized converter")]
    rows = []
    for name in names:
        refused = _first(name, refusals, None)
        if refused:
            rows.append(OperatorSupport(name, refused, refused))
        else:
            rows.append(OperatorSupport(name, "yes", _first(name, int8_ways, "refused: not quantized")))
    return rows


def onnx_operators() -> list[OperatorSupport]:
    """Every operator of ONNX's default domain (the installed `onnx` package's schemas)."""
    import onnx.defs

    from .onnx_import import QOPERATORS, SUPPORTED
    from .qdq import INTEGER_QDQ_OPS

    rows = []
    for name in sorted({s.name for s in onnx.defs.get_all_schemas() if s.domain in ("", "ai.onnx")}):
        if name in QOPERATORS:
            refused = "refused: QOperator quantization (export QDQ)"
            rows.append(OperatorSupport(name, refused, refused))
        elif name not in SUPPORTED:
            rows.append(OperatorSupport(name, "refused", "refused"))
        elif name in ("QuantizeLinear", "DequantizeLinear"):
            rows.append(OperatorSupport(name, "yes", "yes (the QDQ pair)"))
        else:
            rows.append(OperatorSupport(name, "yes", "integer" if name in INTEGER_QDQ_OPS else "float inside"))
    return rows


def _table(rows: list[OperatorSupport], int8_title: str) -> list[str]:
    lines = [f"| operator | float32 | {int8_title} |", "|---|---|---|"]
    lines += [f"| {r.name} | {r.float} | {r.int8} |" for r in rows]
    return lines


def _count(rows: list[OperatorSupport]) -> str:
    floats = sum(r.float == "yes" for r in rows)
    ints = sum(not r.int8.startswith("refused") for r in rows)
    integer = sum(r.int8.startswith("integer") for r in rows)
    return f"{len(rows)} operators: {floats} float32, {ints} int8 ({integer} as integer kernels)"


def operators_markdown() -> str:
    import onnx
    import tflite

    tfl, onx = tflite_operators(), onnx_operators()
    lines = [
        "# Operators",
        "",
        "Generated from the code by `python docs/make_operators_md.py` (do not edit;",
        "`tests/test_operators_doc.py` fails when it no longer matches the code). Read from the",
        "importers' converter maps, the int8 tables of `aotgen/compiler/quantized/` and `qdq.py`, and the",
        "refusals of `frontend.py` / `model_check.py`. \"yes\" means aotgen has a converter: a layer can",
        "still be refused for an attribute or type it does not handle, in one line naming the layer.",
        "",
        "int8 columns:",
        "",
        "- **integer**: aotgen's own integer kernel, bit-exact with TFLite's reference kernels",
        "  (`tests/test_int8_ops.py`) or, for ONNX QDQ `DequantizeLinear -> op -> QuantizeLinear`, with",
        "  onnxruntime's fused integer kernel; **integer (moves bytes)**: layout and selection on the",
        "  stored int8 values, exact.",
        "- **TVM's quantized converter**: TVM's importer handles the quantized layer: exactly for",
        "  layout (RESHAPE), in float between a dequantize and a quantize for arithmetic.",
        "- **float inside** (ONNX): the layer runs in float between its DequantizeLinear and",
        "  QuantizeLinear, as written in the model; onnxruntime may fuse it into an integer kernel",
        "  whose rounding differs by an LSB.",
        "- **refused: not quantized**: the float layer compiles, an int8-quantized one is refused.",
        "",
        f"## TFLite builtin operators (schema of `tflite` {tflite.__version__})",
        "",
        _count(tfl) + ".",
        "",
        *_table(tfl, "int8"),
        "",
        f"## ONNX operators (default domain, `onnx` {onnx.__version__})",
        "",
        _count(onx) + ".",
        "",
        *_table(onx, "int8 (QDQ)"),
        "",
        "Operators of other domains (com.microsoft, ...) are refused.",
        "",
    ]
    return "\n".join(lines)
