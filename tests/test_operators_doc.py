"""docs/operators.md is what the code supports: regenerated here from the compiler's tables and
compared with the committed file, and held against models the compiler really compiles or refuses."""

from __future__ import annotations

import re
import runpy
import sys

import pytest
import tflite

import aotgen
from aotgen.errors import UnsupportedModelError
from aotgen_testlib import REPO, TFLITE_MODELS, model_path
from tflite_builder import ModelSpec

DOC = REPO / "docs" / "operators.md"


@pytest.fixture(scope="module")
def generated() -> str:
    from aotgen.compiler.coverage import operators_markdown

    return operators_markdown()


def rows(text: str, section: str) -> dict[str, tuple[str, str]]:
    """operator -> (float32, int8) of one section's table."""
    part = text.split(f"## {section}")[1].split("\n## ")[0]
    return {m[1]: (m[2], m[3]) for m in re.finditer(r"^\| (\w+) \| ([^|]+) \| ([^|]+) \|$", part, re.M)
            if m[1] != "operator"}


def test_operators_doc_is_current(generated):
    """Adding an operator (or a refusal) to the compiler changes the doc: regenerate it."""
    assert DOC.read_text() == generated, "docs/operators.md is out of date: run `python docs/make_operators_md.py`"


def test_the_script_checks_the_same_file(monkeypatch, capsys):
    script = runpy.run_path(str(REPO / "docs" / "make_operators_md.py"))
    assert script["DOC"] == DOC
    monkeypatch.setattr(sys, "argv", ["make_operators_md.py", "--check"])
    assert script["main"]() == 0, capsys.readouterr().out


def test_every_operator_is_listed(generated):
    from tflite.BuiltinOperator import BuiltinOperator
    import onnx.defs

    assert set(rows(generated, "TFLite")) == {k for k in vars(BuiltinOperator) if not k.startswith("_")}
    assert set(rows(generated, "ONNX")) == {s.name for s in onnx.defs.get_all_schemas() if s.domain == ""}


def test_the_shipped_models_operators_are_listed_as_compiled(generated):
    """Every operator of the published models the tests compile is listed as supported (int8
    for the int8 models), and the arithmetic the int8 tests hold bit-exact as integer kernels."""
    from tflite.BuiltinOperator import BuiltinOperator

    table = rows(generated, "TFLite")
    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    for name, rel in TFLITE_MODELS.items():
        model = tflite.Model.GetRootAsModel(model_path(name).read_bytes(), 0)
        for c in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(c)
            op = names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
            float_col, int8_col = table[op]
            assert float_col == "yes", (name, op)
            if "int8" in name or "quant" in name:
                assert not int8_col.startswith("refused"), (name, op, int8_col)
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "ADD", "SOFTMAX"):
        assert table[op] == ("yes", "integer"), op
    onnx_table = rows(generated, "ONNX")
    assert onnx_table["Conv"] == ("yes", "integer") and onnx_table["QLinearConv"][0].startswith("refused")


@pytest.mark.parametrize("op", ["WHILE", "DELEGATE"])
def test_a_refused_operator_is_refused_as_the_doc_says(op, generated, tmp_path):
    """The doc's refusal is the compiler's: a model with that layer fails in one line naming it."""
    m = ModelSpec()
    x = m.input("x", [1, 4], "float32")
    y = m.activation("y", [1, 4], "float32")
    m.op(op, [x], [y])
    path = tmp_path / f"{op.lower()}.tflite"
    path.write_bytes(m.to_bytes(outputs=[y]))
    with pytest.raises(UnsupportedModelError) as e:
        aotgen.compile(path, tmp_path / "out")
    reason = rows(generated, "TFLite")[op][0].removeprefix("refused: ").split(" (")[0]
    assert f"layer 0 ({op})" in str(e.value) and reason in str(e.value), (reason, str(e.value))
