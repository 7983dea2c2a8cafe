"""Recurrent layers: TFLite UNIDIRECTIONAL_SEQUENCE_LSTM (float, and int8 through the C kernel
runtime/aotgen_lstm_s8.h) and ONNX LSTM / GRU (float).

- Keras LSTMs converted by TensorFlow's converter (tests/recurrent/, see make_models.py there):
  compiled, built and run on the host against LiteRT, int8 bit-exact;
- the kernel alone: gemmlowp's int16 sigmoid / tanh over every input, and whole sequences at odd
  shapes against the numpy model of TFLite's arithmetic (tests/lstm_arith.py);
- ONNX LSTM / GRU built with onnx.helper against onnxruntime (ONNX's own node cases run in
  test_onnx_conformance.py);
- the variants aotgen does not compute refused in one line naming operator, layer and variant."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lstm_arith as L
from aotgen.compiler import c_helpers
from aotgen.errors import UnsupportedModelError
from aotgen.verify.hostcheck import check_model
from aotgen_testlib import AOTGEN
from tflite_builder import ModelSpec

HERE = Path(__file__).resolve().parent
MODELS = sorted((HERE / "recurrent").glob("*.tflite"))
RUNTIME = c_helpers.RUNTIME_DIR
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I", str(RUNTIME)]


# ------------------------------------------------------------------ converted Keras models (TFLite)

@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_keras_lstm_matches_litert(model: Path):
    result = check_model(model, count=4)
    assert result.report.passed, result.report
    if model.stem.endswith("int8"):
        for ours, ref in zip(result.outputs, result.reference):
            np.testing.assert_array_equal(ours[0], ref[0])


def test_the_models_cover_both_layouts_and_both_output_forms():
    import tflite
    from tflite.UnidirectionalSequenceLSTMOptions import UnidirectionalSequenceLSTMOptions

    forms = set()
    for path in MODELS:
        model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
        sg = model.Subgraphs(0)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            if model.OperatorCodes(op.OpcodeIndex()).BuiltinCode() != 44:  # UNIDIRECTIONAL_SEQUENCE_LSTM
                continue
            opts = UnidirectionalSequenceLSTMOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            last_step_only = sg.Tensors(sg.Outputs(0)).ShapeLength() == 2
            forms.add((bool(opts.TimeMajor()), last_step_only))
    assert {(True, False), (False, False), (False, True)} <= forms


# -------------------------------------------------------------------------------- the C kernel

def _run_c(tmp_path: Path, body: str) -> str:
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\n#include "aotgen_lstm_s8.h"\n' + body)
    exe = tmp_path / "main"
    subprocess.run(["gcc", *CFLAGS, str(src), "-o", str(exe)], check=True, timeout=60)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True).stdout


def test_int16_sigmoid_and_tanh_on_every_input(tmp_path: Path):
    out = _run_c(tmp_path, """
int main(void) {
  for (int32_t v = -32768; v <= 32767; ++v) {
    printf("%d", aotgen_sigmoid16((int16_t)v));
    for (int32_t bits = 0; bits <= 6; ++bits) printf(" %d", aotgen_tanh16((int16_t)v, bits));
    printf("\\n");
  }
  return 0;
}""")
    got = np.array(out.split(), np.int64).reshape(65536, 8)
    x = np.arange(-32768, 32768)
    np.testing.assert_array_equal(got[:, 0], L.sigmoid16(x))
    for bits in range(7):
        np.testing.assert_array_equal(got[:, 1 + bits], L.tanh16(x, bits), err_msg=f"tanh, {bits} integer bits")
    # and they are the functions: within a few units of the last place of Q0.15
    real = x / 2.0**12
    assert np.abs(got[:, 0] / 2.0**15 - 1 / (1 + np.exp(-real))).max() < 2e-4
    for bits in range(7):
        assert np.abs(got[:, 1 + bits] / 2.0**15 - np.tanh(x / 2.0 ** (15 - bits))).max() < 4e-4, bits


def _c_array(ctype: str, name: str, a: np.ndarray) -> str:
    return f"static const {ctype} {name}[] = {{{', '.join(str(int(v)) for v in a.reshape(-1))}}};\n"


@pytest.mark.parametrize("batch,steps,n_input,hidden,time_major,cell_log2,clip", [
    (3, 4, 7, 5, 1, -11, 0),  # several batches, time-major, clipped nowhere
    (2, 3, 1, 9, 0, -13, 3000),  # one input feature, cell clip
    (1, 5, 6, 3, 0, -16, 0),  # cell scale below 2^-15: TFLite's tanh is skipped
])
def test_kernel_at_odd_shapes(tmp_path, batch, steps, n_input, hidden, time_major, cell_log2, clip):
    rng = np.random.default_rng(batch * 100 + hidden)
    x = rng.integers(-128, 128, (steps, batch, n_input) if time_major else (batch, steps, n_input))
    w_in = rng.integers(-127, 128, (4, hidden, n_input))
    w_rec = rng.integers(-127, 128, (4, hidden, hidden))
    b_in = rng.integers(-30000, 30000, (4, hidden))
    b_rec = rng.integers(-30000, 30000, (4, hidden))
    scales = []
    for _ in range(8):  # gate scales around 2^-12 / (in scale * w scale): exponents -4..0
        scales += [int(rng.integers(2**30, 2**31 - 1)), int(rng.integers(-4, 1))]
    scales += [int(rng.integers(2**30, 2**31 - 1)), int(rng.integers(-24, -20))]  # 2^-30 / hidden scale
    h0 = rng.integers(-128, 128, (batch, hidden))
    c0 = rng.integers(-20000, 20000, (batch, hidden))
    hidden_zp = -3
    body = "".join([
        _c_array("int8_t", "x", x), _c_array("int8_t", "w_in", w_in), _c_array("int8_t", "w_rec", w_rec),
        _c_array("int32_t", "b_in", b_in), _c_array("int32_t", "b_rec", b_rec),
        _c_array("int32_t", "scales", np.array(scales)), _c_array("int8_t", "h0", h0),
        _c_array("int16_t", "c0", c0),
        f"static int8_t out[{x.shape[0] * x.shape[1] * hidden}];\n",
        f"static int16_t scratch[{5 * hidden + (hidden + 1) // 2}];\n",
        "int main(void) {\n",
        f"  aotgen_lstm_s8(x, {batch}, {steps}, {n_input}, {hidden}, {time_major}, w_in, w_rec, b_in, b_rec, scales, "
        f"{hidden_zp}, {cell_log2}, {clip}, h0, c0, out, scratch);\n",
        f"  for (int i = 0; i < {x.shape[0] * x.shape[1] * hidden}; ++i) printf(\"%d \", out[i]);\n  return 0;\n}}\n",
    ])
    got = np.array(_run_c(tmp_path, body).split(), np.int64)
    want = L.lstm(x, w_in, w_rec, b_in, b_rec, scales, hidden_zp, cell_log2, clip, h0, c0, bool(time_major))
    np.testing.assert_array_equal(got, want.reshape(-1))
    assert len(np.unique(got)) > hidden  # not saturated into a constant


# ------------------------------------------------------------------------ TFLite refusals by name

def _float_lstm(tmp_path: Path, variant: str) -> Path:
    """A float UNIDIRECTIONAL_SEQUENCE_LSTM (batch 1, 3 steps, 2 features, 3 units) built tensor by
    tensor, with the optional tensors of `variant`."""
    rng = np.random.default_rng(0)
    m = ModelSpec()
    w = lambda *shape: m.const(f"w{len(m.tensors)}", rng.normal(0, 0.5, shape).astype(np.float32))  # noqa: E731
    x = m.input("x", [1, 3, 2], "float32")
    ins = [x] + [w(3, 2) for _ in range(4)] + [w(3, 3) for _ in range(4)] + [-1] * 3 + [w(3) for _ in range(4)]
    ins += [-1, -1, w(1, 3), w(1, 3), -1, -1, -1, -1]
    if variant == "CIFG":
        ins[1] = ins[5] = -1
    elif variant == "peephole":
        ins[9:12] = [w(3), w(3), w(3)]
    elif variant == "projection":
        ins[16] = w(3, 3)
    elif variant == "layer normalization":
        ins[20:24] = [w(3), w(3), w(3), w(3)]
    y = m.activation("y", [1, 3, 3], "float32")
    act = 1 if variant == "activation" else 4  # RELU instead of TANH
    m.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], "UnidirectionalSequenceLSTMOptions", FusedActivationFunction=act,
         TimeMajor=False)
    path = tmp_path / f"lstm_{variant.replace(' ', '_')}.tflite"
    path.write_bytes(m.to_bytes(outputs=[y]))
    return path


@pytest.mark.parametrize("variant", ["CIFG", "peephole", "projection", "layer normalization", "activation"])
def test_tflite_lstm_variants_are_refused_by_name(tmp_path, variant):
    from aotgen.compiler.frontend import load_model

    with pytest.raises(UnsupportedModelError) as e:
        load_model(_float_lstm(tmp_path, variant))
    msg = str(e.value)
    assert "\n" not in msg and "UNIDIRECTIONAL_SEQUENCE_LSTM" in msg and "layer 0" in msg, msg
    assert (variant if variant != "activation" else "activation other than tanh") in msg, msg


@pytest.mark.parametrize("name", ["LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"])
def test_other_tflite_lstm_operators_are_refused_by_name(tmp_path, name):
    from aotgen.compiler.frontend import load_model

    m = ModelSpec()
    x = m.input("x", [1, 3, 2], "float32")
    y = m.activation("y", [1, 3, 3], "float32")
    m.op(name, [x], [y])
    path = tmp_path / "other.tflite"
    path.write_bytes(m.to_bytes(outputs=[y]))
    refusal = rf"^unsupported operator {name} at layer 0 \({name}, output 'y'\)$"
    with pytest.raises(UnsupportedModelError, match=refusal):
        load_model(path)


def test_int8_lstm_refused_where_weights_live_in_flash(tmp_path):
    """AVR reads its __flash weights with LPM; the kernel's plain pointers cannot (a float LSTM is
    TIR kernels and compiles there)."""
    import aotgen

    with pytest.raises(UnsupportedModelError, match=r"^unsupported form of operator UNIDIRECTIONAL_SEQUENCE_LSTM at "
                                                    r"layer 0 .*AVR's __flash.*plain pointers$"):
        aotgen.compile(HERE / "recurrent/lstm_seq_int8.tflite", tmp_path / "int8", target="atmega2560")
    aotgen.compile(HERE / "recurrent/lstm_seq_float.tflite", tmp_path / "float", target="atmega2560")


def test_the_plain_builder_lstm_imports(tmp_path):
    """The same builder without a variant: the refusals above are about the variant alone."""
    from aotgen.compiler.frontend import load_model

    assert load_model(_float_lstm(tmp_path, "plain")).operators == ["UNIDIRECTIONAL_SEQUENCE_LSTM"]


# --------------------------------------------------------------------------------- ONNX LSTM / GRU

def _onnx(tmp_path, op: str, *, hidden=4, seq=5, batch=2, features=3, direction="forward", runtime_states=False,
          outputs=("Y", "Y_h"), **attrs) -> Path:
    rng = np.random.default_rng(len(op) + hidden)
    gates = 4 if op == "LSTM" else 3
    dirs = 2 if direction == "bidirectional" else 1
    inits = [numpy_helper.from_array(rng.normal(0, 0.6, (dirs, gates * hidden, features)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.6, (dirs, gates * hidden, hidden)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.normal(0, 0.3, (dirs, 2 * gates * hidden)).astype(np.float32), "B")]
    if not attrs.pop("bias", True):
        inits = inits[:2]
    graph_in = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [seq, batch, features])]
    node_in = ["X", "W", "R", "B" if len(inits) == 3 else "", "seq_lens" if attrs.pop("runtime_lens", False) else ""]
    if node_in[4]:
        graph_in.append(helper.make_tensor_value_info("seq_lens", TensorProto.INT32, [batch]))
    states = ["initial_h"] + (["initial_c"] if op == "LSTM" else [])
    for s in states:
        if runtime_states:
            graph_in.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, [dirs, batch, hidden]))
        else:
            inits.append(numpy_helper.from_array(rng.normal(0, 0.5, (dirs, batch, hidden)).astype(np.float32), s))
    node_in += states
    shapes = {"Y": [seq, dirs, batch, hidden], "Y_h": [dirs, batch, hidden], "Y_c": [dirs, batch, hidden]}
    node = helper.make_node(op, node_in, list(outputs), hidden_size=hidden, direction=direction, **attrs)
    graph = helper.make_graph([node], op.lower(), graph_in,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = tmp_path / f"{op.lower()}.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("op,options", [
    ("LSTM", dict(runtime_states=True, outputs=("Y", "Y_h", "Y_c"))),
    ("LSTM", dict(direction="bidirectional", clip=1.5)),
    ("GRU", dict(direction="reverse", linear_before_reset=1)),
    ("GRU", dict(direction="bidirectional", runtime_states=True)),
    ("GRU", dict(linear_before_reset=1, bias=False, runtime_states=True)),
], ids=["lstm_states_at_run_time", "lstm_bidirectional_clip", "gru_reverse_lbr", "gru_bidirectional",
        "gru_lbr_without_bias"])
def test_onnx_recurrent_matches_onnxruntime(tmp_path, op, options):
    result = check_model(_onnx(tmp_path, op, **options), count=4)
    assert result.report.passed, result.report


@pytest.mark.parametrize("op,options,why", [
    ("LSTM", dict(runtime_lens=True), "sequence_lens"),
    ("GRU", dict(activations=["Sigmoid", "Relu"]), "activations"),
    ("LSTM", dict(input_forget=1), "input_forget"),
])
def test_onnx_recurrent_forms_are_refused_by_name(tmp_path, op, options, why):
    from aotgen.compiler.frontend import load_model

    with pytest.raises(UnsupportedModelError) as e:
        load_model(_onnx(tmp_path, op, **options))
    msg = str(e.value)
    assert "\n" not in msg and op in msg and why in msg, msg


# ------------------------------------------------------------------------------ on a Cortex-M4F

@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs gcc-arm-none-eabi and qemu-system-arm")
@pytest.mark.parametrize("name", ["lstm_stacked_int8"])
def test_int8_lstm_bit_exact_in_qemu(tmp_path, name):
    """aotgen run: two stacked int8 LSTMs with a classifier head, built for mps2_an386 (Cortex-M4F,
    its DSP kernels for the head), run in QEMU and compared with LiteRT with no tolerance (the
    time-major batch-2 LSTM passes there too; the host tests cover it)."""
    model = HERE / f"recurrent/{name}.tflite"
    proc = subprocess.run([AOTGEN, "run", str(model), "--board", "mps2_an386", "--count", "4", "--atol", "0", "--json"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    outputs = [o for s in report["models"][0]["samples"] for o in s["outputs"]]
    assert report["passed"] and len(outputs) == 4 and all(o["max_abs_error"] == 0 for o in outputs)


def test_int8_lstm_with_the_llvm_backend():
    """The kernel is C either way: LLVM-built models call it from the C glue."""
    result = check_model(HERE / "recurrent/lstm_time_major_int8.tflite", count=3, backend="llvm", atol=0)
    assert result.report.passed, result.report
