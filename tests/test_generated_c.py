"""Every rule of issue 2's "generated C" section, checked on real compiled models: the shared
TFLite models (float and int8) and the ONNX models built by the tests."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tvm

import aotgen
from aotgen import ModelLibrary
from aotgen.compiler import c_helpers
from aotgen.verify.reference import run_reference
from aotgen.verify.compare import compare_output, random_inputs
from aotgen_testlib import TFLITE_MODELS, build_program, run

ALL_MODELS = [*TFLITE_MODELS, "tiny_cnn", "tiny_cnn_qdq_int8", "two_inputs"]
# Every rule holds in every mode: the default libraries plus the other interface variants.
VARIANTS = [(name, {}) for name in ALL_MODELS] + [
    ("vww_96_int8", {"workspace": "user"}),
    ("kws_ref_model", {"io_in_arena": True}),
    ("two_inputs", {"workspace": "user", "io_in_arena": True}),
    ("vww_96_int8", {"target": "cortex-m7"}),  # the DSP kernels (runtime/aotgen_*_s8.h)
]
ALLOWED_STD_HEADERS = {"stdint.h", "stddef.h", "stdbool.h", "string.h", "math.h"}
FORBIDDEN = ["DLTensor", "TVMFFIAny", "TVMValue", "type_code", "TVMBackendAllocWorkspace", "malloc",
             "__tvm_ffi__library_ctx", "#include <tvm", "int64_t"]
# What the object may take from the C library: string.h and math.h functions, nothing else.
ALLOWED_UNDEFINED = re.compile(r"(mem(cpy|set|move)|(exp|expm1|log|log1p|sqrt|tanh|sinh|cosh|sin|cos|tan|"
                               r"atan|atan2|asin|acos|erf|pow|fabs|floor|ceil|round|nearbyint|rint|trunc|"
                               r"fmin|fmax|fmod|ldexp|frexp)f?)")
HOST_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
M7_FLAGS = ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-Wall", "-Wextra", "-Werror"]
MAX_STACK_BYTES = 512  # registers and a few scalars; today's largest frame is ~140 bytes
C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.fixture(scope="module", params=VARIANTS,
                ids=lambda v: "-".join([v[0], *(k if val is True else str(val) for k, val in v[1].items())]))
def lib(request, model_file: Callable[[str], Path], compile_once) -> ModelLibrary:
    name, options = request.param
    return compile_once(model_file(name), **options).library


def user_workspace(lib: ModelLibrary) -> bool:
    return lib.metadata["options"]["workspace"] == "user"


def io_in_arena(lib: ModelLibrary) -> bool:
    return bool(lib.metadata["options"].get("io_in_arena"))


def io_accessors(lib: ModelLibrary) -> set[str]:
    """The zero-copy buffer accessors an io_in_arena library exports (pointers into the arena)."""
    if not io_in_arena(lib):
        return set()
    return {f"{lib.prefix}_{t.c_name}_buffer" for t in lib.inputs + lib.outputs}


def generated_files(lib: ModelLibrary) -> list[Path]:
    files = sorted((lib.root / "codegen").rglob("*.[ch]"))
    assert lib.header in files and all(s in files for s in lib.sources)
    return files


def strip_comments(c: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", c, flags=re.S)


def function_body(source: str, name: str) -> str:
    m = re.search(rf"\b{name}\s*\([^)]*\)\s*\{{", source)
    assert m, f"no definition of {name}"
    depth, i = 0, m.end() - 1
    while True:
        depth += source[i] == "{"
        depth -= source[i] == "}"
        i += 1
        if depth == 0:
            return source[m.end() : i - 1]


def compile_object(lib: ModelLibrary, compiler: str, flags: list[str], out: Path) -> Path:
    for src in lib.sources:
        run([compiler, *flags, "-I", str(lib.include_dir), "-c", str(src), "-o", str(out / (src.stem + ".o"))])
    return out


def nm(objects: list[Path]) -> list[tuple[str, int, str]]:
    """(type, size, name) of every symbol, defined or not."""
    proc = run(["nm", "-S", *map(str, objects)], text=True)
    syms = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms.append((parts[2], int(parts[1], 16), parts[3]))
        elif len(parts) == 3:
            syms.append((parts[1], 0, parts[2]))
        elif len(parts) == 2:
            syms.append((parts[0], 0, parts[1]))
    return syms


# ------------------------------------------------------------------------------ interface


def test_runner_signature_and_io_structs(lib: ModelLibrary) -> None:
    p = lib.prefix
    header = " ".join(strip_comments(lib.header.read_text()).split())
    assert f"int32_t {p}_run(struct {p}_inputs* inputs, struct {p}_outputs* outputs);" in header
    for kind, tensors, const in (("inputs", lib.inputs, "const "), ("outputs", lib.outputs, "")):
        m = re.search(rf"struct {p}_{kind} \{{(.*?)\}};", header)
        assert m, f"struct {p}_{kind} not defined"
        fields = [f.strip() for f in m.group(1).split(";") if f.strip()]
        assert fields == [f"{const}{t.c_type}* {t.c_name}" for t in tensors]
        names = [t.c_name for t in tensors]
        assert all(C_IDENT.fullmatch(n) for n in names) and len(set(names)) == len(names)
    source = "\n".join(s.read_text() for s in lib.sources)
    assert re.search(rf"^int32_t {p}_run\(struct {p}_inputs\* inputs, struct {p}_outputs\* outputs\) \{{", source, re.M)


def test_header_macros_match_metadata(lib: ModelLibrary, tmp_path: Path) -> None:
    """Compile a program that prints the header's macros; compare them with metadata.json."""
    P = lib.prefix.upper()
    lines = ["#include <stdio.h>", f'#include "{lib.prefix}.h"', "int main(void) {",
             f'  printf("workspace %d %d\\n", (int){P}_WORKSPACE_SIZE, (int){P}_WORKSPACE_ALIGNMENT);']
    for t in lib.inputs + lib.outputs:
        M = f"{P}_{t.c_name.upper()}"
        lines.append(f"  {{ static const int shape[] = {M}_SHAPE;")
        lines.append(f'    printf("{t.c_name} %d %d", (int){M}_SIZE, (int){M}_DIMS);')
        lines.append(f'    for (int i = 0; i < {M}_DIMS; i++) printf(" %d", shape[i]);')
        if t.quantization is not None:
            lines.append(f'    printf(" q %.9g %d", (double){M}_SCALE, (int){M}_ZERO_POINT);')
        lines.append('    printf("\\n"); }')
    lines += ["  return 0;", "}"]
    exe = build_program([lib], "\n".join(lines), tmp_path, "macros")
    printed = run([str(exe)], text=True).stdout.splitlines()
    assert printed[0].split() == ["workspace", str(lib.workspace_bytes), str(lib.metadata["memory"]["alignment"])]
    for line, t in zip(printed[1:], lib.inputs + lib.outputs, strict=True):
        words = line.split()
        assert words[:3] == [t.c_name, str(t.nbytes), str(len(t.shape))]
        assert [int(w) for w in words[3 : 3 + len(t.shape)]] == t.shape
        if t.quantization is not None:
            assert words[3 + len(t.shape)] == "q"
            assert float(words[-2]) == pytest.approx(t.quantization.scale, rel=1e-6)
            assert int(words[-1]) == t.quantization.zero_point


# -------------------------------------------------------------------------- what the C contains


def test_no_tvm_runtime_no_malloc_no_int64(lib: ModelLibrary) -> None:
    for f in generated_files(lib):
        text = f.read_text()
        found = [word for word in FORBIDDEN if word in text]
        assert not found, f"{f.name} contains {found}"


def test_only_standard_headers(lib: ModelLibrary) -> None:
    for f in generated_files(lib):
        for kind, name in re.findall(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', f.read_text(), re.M):
            if kind == "<":
                assert name in ALLOWED_STD_HEADERS, f"{f.name} includes <{name}>"
            else:
                assert name == f"{lib.prefix}.h", f'{f.name} includes "{name}"'


def test_weights_are_static_const_and_passed_directly(lib: ModelLibrary) -> None:
    p = lib.prefix
    source = strip_comments("\n".join(s.read_text() for s in lib.sources))
    # File-scope arrays: weights must be `static const` and aligned; the only writable one is the arena.
    arrays = re.findall(r"^(\w[\w ]*?)\s+(\w+)\s*\[[^\]]*\]([^=;]*)[=;]", source, re.M)
    weights = [(decl, name, attrs) for decl, name, attrs in arrays if "const" in decl.split()]
    writable = [name for decl, name, _ in arrays if "const" not in decl.split()]
    assert writable in ([], [f"{p}_workspace"]), f"writable file-scope arrays: {writable}"
    if lib.constant_bytes:
        assert weights, "the model has weights but the C has no const arrays"
    runner = function_body(source, f"{p}_run")
    for decl, name, attrs in weights:
        assert decl.split()[:2] == ["static", "const"], f"{name}: '{decl}' is not static const"
        assert "ALIGNED" in attrs or "aligned" in attrs, f"{name} is not aligned"
        # Referenced by the runner itself: no lookup function, no copy into RAM.
        assert re.search(rf"\b{name}\b", runner), f"{name} is not passed by {p}_run"
        assert not re.search(rf"memcpy\([^;]*\b{name}\b", source), f"{name} is copied"
    # No function returns a pointer (a constant lookup table would), but the I/O buffer accessors
    # and the runtime kernels' own helpers (the depthwise kernel's window offsets, on the stack).
    pointer_functions = set(re.findall(r"^[\w ]*\*\s*(\w+)\s*\([^;{]*\)\s*\{", source, re.M))
    helpers = {f"{p}_{name[len('aotgen_'):]}" for name in c_helpers.HELPERS}
    assert pointer_functions - helpers == io_accessors(lib)


def test_kernels_take_typed_pointers_const_inputs(lib: ModelLibrary) -> None:
    source = strip_comments("\n".join(s.read_text() for s in lib.sources))
    kernels = lib.metadata["kernels"]
    assert kernels
    for k in kernels:
        assert k.startswith(lib.prefix), k
        m = re.search(rf"^static void {k}\(([^)]*)\)", source, re.M)
        assert m, f"kernel {k} is not a static void function"
        params = [x.strip() for x in m.group(1).split(",")]
        assert all(re.fullmatch(r"(const )?\w+\* restrict \w+|\w+ \w+", x) for x in params), params
        assert any(x.startswith("const ") for x in params) or len(params) <= 1, f"{k}: no const input {params}"


# -------------------------------------------------------------------------------- compilers


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_host_gcc_c99_warning_free(lib: ModelLibrary, opt: str, tmp_path: Path) -> None:
    compile_object(lib, "gcc", [*HOST_FLAGS, opt], tmp_path)


def test_arm_gcc_cortex_m7_warning_free(lib: ModelLibrary, tmp_path: Path) -> None:
    objects = compile_object(lib, "arm-none-eabi-gcc", [*M7_FLAGS, "-O2", "-fstack-usage"], tmp_path).glob("*.o")
    syms = nm(list(objects))
    assert any(name == f"{lib.prefix}_run" and kind == "T" for kind, _, name in syms)
    # Tensors and kernel scratch belong in the arena: no function keeps a buffer on the stack.
    usage = [line.split("\t") for su in tmp_path.glob("*.su") for line in su.read_text().splitlines()]
    assert usage, "gcc wrote no stack usage"
    for where, size, kind in usage:
        assert kind == "static" and int(size) <= MAX_STACK_BYTES, f"{where}: {size} bytes of stack ({kind})"


def test_symbols_prefixed_and_everything_else_static(lib: ModelLibrary, tmp_path: Path) -> None:
    p = lib.prefix
    syms = nm(list(compile_object(lib, "gcc", [*HOST_FLAGS, "-O0"], tmp_path).glob("*.o")))
    exported = {name for kind, _, name in syms if kind in "TDBRCGS"}
    expected = {f"{p}_run"} | ({f"{p}_set_workspace"} if user_workspace(lib) else set()) | io_accessors(lib)
    assert exported == expected
    assert all(name.startswith(p) for name in exported)
    undefined = {name for kind, _, name in syms if kind == "U"}
    assert all(ALLOWED_UNDEFINED.fullmatch(u) for u in undefined), f"unexpected external references {undefined}"
    # Weights in read-only data, as many bytes as metadata.json says; the only writable storage
    # of any size is the arena.
    weights = [(kind, size, name) for kind, size, name in syms if re.fullmatch(rf"{p}_const\w*", name)]
    assert all(kind in "rR" for kind, _, _ in weights), f"weights not read-only: {weights}"
    assert sum(size for _, size, _ in weights) == lib.constant_bytes
    for kind, size, name in syms:
        if kind in "bBdD" and size > 16:
            assert not user_workspace(lib), f"--workspace user, yet {name} takes {size} bytes of RAM"
            assert name == f"{p}_workspace" and size == max(lib.workspace_bytes, 1), (kind, size, name)


# ------------------------------------------------------------------------ --workspace user


def test_user_workspace_api(model_file, compile_once, tmp_path: Path) -> None:
    lib = compile_once(model_file("vww_96_int8"), prefix="vww_user", workspace="user").library
    static = compile_once(model_file("vww_96_int8")).library
    assert lib.metadata["options"]["workspace"] == "user"
    assert lib.workspace_bytes == static.workspace_bytes > 0
    header = lib.header.read_text()
    assert "#define VWW_USER_WORKSPACE_USER 1" in header
    assert "int32_t vww_user_set_workspace(void* workspace, size_t size);" in header
    syms = nm(list(compile_object(lib, "gcc", [*HOST_FLAGS, "-O0"], tmp_path).glob("*.o")))
    assert max(size for kind, size, _ in syms if kind in "bBdD") <= 16, "a static arena is still allocated"

    (t_in,), (t_out,) = lib.inputs, lib.outputs
    P = "VWW_USER"
    main_c = f"""
#include <stdio.h>
#include <string.h>
#include "vww_user.h"
static uint8_t ws[{P}_WORKSPACE_SIZE + {P}_WORKSPACE_ALIGNMENT] __attribute__((aligned({P}_WORKSPACE_ALIGNMENT)));
static {t_in.c_type} in[{P}_{t_in.c_name.upper()}_SIZE];
static {t_out.c_type} out[{P}_{t_out.c_name.upper()}_SIZE];
int main(void) {{
  struct vww_user_inputs inputs = {{in}};
  struct vww_user_outputs outputs = {{out}};
  if (vww_user_run(&inputs, &outputs) == 0) return 10;                       /* no workspace yet */
  if (vww_user_set_workspace(NULL, sizeof(ws)) == 0) return 11;
  if (vww_user_set_workspace(ws, {P}_WORKSPACE_SIZE - 1) == 0) return 12;   /* too small */
  if ({P}_WORKSPACE_ALIGNMENT > 1 && vww_user_set_workspace(ws + 1, {P}_WORKSPACE_SIZE) == 0) return 13;
  if (vww_user_set_workspace(ws, {P}_WORKSPACE_SIZE) != 0) return 14;       /* exactly enough */
  struct vww_user_inputs no_input = {{NULL}};
  if (vww_user_run(&no_input, &outputs) == 0) return 15;
  if (vww_user_run(NULL, &outputs) == 0) return 16;
  if (fread(in, 1, sizeof(in), stdin) != sizeof(in)) return 17;
  memset(ws, 0xA5, sizeof(ws));                                              /* garbage arena */
  if (vww_user_run(&inputs, &outputs) != 0) return 18;
  fwrite(out, 1, sizeof(out), stdout);
  return 0;
}}
"""
    exe = build_program([lib], main_c, tmp_path, "user_ws")
    (x,) = random_inputs(lib.inputs, 1, seed=7)[0]
    got = np.frombuffer(run([str(exe)], input=x.tobytes()).stdout, dtype=t_out.dtype).reshape(t_out.shape)
    want = run_reference(model_file("vww_96_int8"), [[x]])[0][0]
    assert compare_output(got, want, t_out, atol=2).passed


def test_static_runner_rejects_null_pointers(lib: ModelLibrary, tmp_path: Path) -> None:
    if user_workspace(lib) or io_in_arena(lib):
        pytest.skip("with io_in_arena NULL structs are valid; with a user workspace run fails anyway")
    p = lib.prefix
    outs = ", ".join("NULL" for _ in lib.outputs)
    main_c = f"""#include <stddef.h>
#include "{p}.h"
int main(void) {{
  struct {p}_outputs outputs = {{{outs}}};
  struct {p}_inputs inputs = {{{', '.join('NULL' for _ in lib.inputs)}}};
  if ({p}_run(NULL, NULL) == 0) return 1;
  if ({p}_run(&inputs, &outputs) == 0) return 2;
  return 0;
}}
"""
    run([str(build_program([lib], main_c, tmp_path, "nulls"))])


# ------------------------------------------------------------------------------ metadata, tar


def test_metadata_fields(lib: ModelLibrary) -> None:
    m = lib.metadata
    model = lib.model_file
    assert model is not None
    assert m["schema_version"] == 1
    assert m["aotgen_version"] == aotgen.__version__
    assert m["tvm_version"] == tvm.__version__ == "0.27.0.post1"
    assert m["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert m["options"]["backend"] == "c" and m["options"]["target"] in ("host", "cortex-m7")  # (VARIANTS)
    assert m["options"]["workspace"] in ("static", "user")
    assert m["workspace_bytes"] == m["memory"]["workspace_bytes"] >= m["memory"]["lower_bound_bytes"] > 0
    assert m["constant_bytes"] > 0
    for rel in m["sources"]:
        assert re.fullmatch(rf"codegen/host/src/{lib.prefix}_lib\d+\.c", rel)
        assert (lib.root / rel).is_file()
    for extra in ("memory_plan.txt", "ir/imported.txt", "ir/lowered.txt"):
        assert (lib.root / extra).stat().st_size > 0, extra
    for t in m["inputs"] + m["outputs"]:
        assert {"name", "c_name", "shape", "dtype", "bytes", "quantization"} <= set(t)
        assert t["bytes"] == int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
    # Names, shapes, dtypes, quantization and operators as the model file itself states them.
    ins, outs, ops = model_facts(model)
    for facts, tensors in ((ins, m["inputs"]), (outs, m["outputs"])):
        assert [(t["name"], t["shape"], t["dtype"]) for t in tensors] == [f[:3] for f in facts]
        for t, f in zip(tensors, facts):
            if f[3] is None:
                assert t["quantization"] is None
            else:
                assert t["quantization"]["scale"] == pytest.approx(f[3][0], rel=1e-6)
                assert t["quantization"]["zero_point"] == f[3][1]
    assert m["operators"] == ops


def model_facts(model: Path) -> tuple[list, list, list[str]]:
    """(name, shape, dtype, (scale, zero point) | None) per input and output, and the operator
    list, read with the reference runtimes rather than aotgen's own importer."""
    if model.suffix == ".onnx":
        import onnx

        g = onnx.load(model).graph
        init = {i.name for i in g.initializer}

        def facts(v) -> tuple:
            dt = str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
            return v.name, [d.dim_value for d in v.type.tensor_type.shape.dim], dt, None

        return ([facts(v) for v in g.input if v.name not in init], [facts(v) for v in g.output],
                [n.op_type for n in g.node])
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model))

    def facts(d: dict) -> tuple:
        scale, zp = d["quantization"]
        return d["name"], [int(x) for x in d["shape"]], np.dtype(d["dtype"]).name, (scale, zp) if scale else None

    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]
    return [facts(d) for d in interp.get_input_details()], [facts(d) for d in interp.get_output_details()], ops


def test_tarball_output_is_the_same_library(model_file, compile_once, tmp_path: Path) -> None:
    folder = compile_once(model_file("hello_world_int8")).library
    tar_path = tmp_path / "hw.tar"
    result = aotgen.compile(model_file("hello_world_int8"), tar_path, prefix=folder.prefix)
    assert result.path == tar_path and tarfile.is_tarfile(tar_path)
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
    assert {"metadata.json", f"codegen/host/include/{folder.prefix}.h", "memory_plan.txt"} <= names
    from_tar = aotgen.load_library(tar_path)
    for rel in ["metadata.json", *folder.metadata["sources"], f"codegen/host/include/{folder.prefix}.h"]:
        assert (from_tar.root / rel).read_bytes() == (folder.root / rel).read_bytes(), f"{rel} differs"
    assert json.loads((from_tar.root / "metadata.json").read_text())["prefix"] == folder.prefix


@pytest.mark.parametrize("name", ["pretrainedResnet_quant", "vww_96_int8", "kws_ref_model"])
def test_no_padding_test_per_multiply_accumulate(name, model_file, compile_once) -> None:
    """A padded convolution's bounds test runs per filter tap at most, never per MAC: the lowering
    hoists a test that does not depend on the channel above the channel loop (leaving no dead copy
    of that loop), and turns a test on the tap loop's own variable into that loop's bounds."""
    lib = compile_once(model_file(name)).library
    source = strip_comments(lib.sources[0].read_text())
    convs = [k for k in lib.metadata["kernels"] if re.match(rf"{lib.prefix}_(dw)?conv2d_int8\d*$", k)]
    assert convs
    for kernel in convs:
        body = function_body(source, kernel)
        assert "condval" not in body, kernel  # TVM's rendering of a per-element if_then_else
        if "_dwconv" in kernel:
            continue
        loops = re.findall(r"for \(int32_t (ic\w*) = ", body)
        assert loops in (["ic"], []), (kernel, loops)  # one channel loop (none: a single input channel)
        if loops:
            start = body.index("for (int32_t ic = ")
            assert "if (" not in function_body(body[start:], "for"), kernel
