"""`--backend llvm`: kernels in an ELF object from TVM's bundled LLVM, glue in C.

Correctness runs on the host (an x86-64 object); the Cortex-M objects are checked for their
CPU/float-ABI attributes and symbols. Running them on the QEMU boards is the harness's job."""

import functools
import re
import subprocess

import numpy as np
import pytest

import aotgen
from aotgen.errors import AotgenError
from aotgen.verify.hostcheck import check_on_host
from aotgen.verify.reference import run_reference
from aotgen.compiler.targets import check_object_abi, object_float_abi
from aotgen.verify.compare import random_inputs
from aotgen_testlib import build_program, model_path, multi_model_main, run_program

# Symbols an object may reference or define without the model prefix: libm, and the compiler
# runtime functions LLVM calls or emits as weak definitions (half-float conversion, EABI helpers).
UNPREFIXED_ALLOWED = re.compile(r"^(expf|logf|sqrtf|tanhf|expm1f|powf|fabsf|roundf|nearbyintf|floorf|ceilf|"
                                r"__extendhfsf2|__truncsfhf2|__gnu_h2f_ieee|__gnu_f2h_ieee|__aeabi_\w+|"
                                # libgcc's soft-float routines (Cortex-M0/M3 have no FPU)
                                r"__(add|sub|mul|div|neg|cmp|eq|ne|lt|le|gt|ge|unord)sf[23]|__fix\w+|__float\w+|"
                                # and its integer routines (Cortex-M0: no 64-bit multiply, no divide)
                                r"__(mul|div|udiv|mod|umod|ashl|ashr|lshr)[sd]i3)$")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("llvm")

    @functools.cache  # each library once per module
    def build(name: str, prefix: str, backend: str = "llvm", target: str = "host"):
        return aotgen.compile(model_path(name), output=d / f"{name}_{prefix}_{backend}_{target}", prefix=prefix, backend=backend,
                              target=target).library

    return build


@pytest.mark.parametrize("name", ["hello_world_int8", "kws_ref_model", "pretrainedResnet_quant", "hello_world_float"])
def test_llvm_kernels_match_reference_on_host(compiled, name):
    lib = compiled(name, "m")
    assert lib.metadata["options"]["backend"] == "llvm"
    # hello_world_int8's three layers only call the C fully connected kernel: C in the glue, no object
    assert bool(lib.objects) == (name != "hello_world_int8")
    assert all(o.suffix == ".o" and o.is_file() for o in lib.objects)
    samples = random_inputs(lib.inputs, 5, seed=1)
    report, _ = check_on_host(lib, samples, run_reference(model_path(name), samples))
    if lib.inputs[0].dtype == "int8":
        assert report.max_abs_error() == 0, report.to_json()
    assert report.passed, report.to_json()


def test_c_and_llvm_models_link_into_one_program(compiled, tmp_path):
    libs = [compiled("kws_ref_model", "kws_c", backend="c"), compiled("kws_ref_model", "kws_llvm")]
    exe = build_program(libs, multi_model_main(libs), tmp_path)
    samples = random_inputs(libs[0].inputs, 3, seed=4)
    outs = run_program(exe, libs, [samples, samples])
    want = run_reference(model_path("kws_ref_model"), samples)
    for per_lib in outs:
        for got, ref in zip(per_lib, want):
            np.testing.assert_array_equal(got[0], ref[0])


@pytest.mark.parametrize("target,abi", [("cortex-m7", "hard"), ("cortex-m4", "hard"), ("cortex-m3", "soft"),
                                        ("cortex-m33", "hard"), ("cortex-m0", "soft")])
def test_cortex_m_object_attributes_and_symbols(compiled, target, abi):
    lib = compiled("kws_ref_model", "kws", target=target)
    # KWS has hot and cold kernels where its convolutions are loops; on DSP cores they are calls of
    # the C micro-kernels, and only cold kernels are left.
    assert len(lib.objects) in (1, 2)
    for obj in lib.objects:
        assert object_float_abi(obj) == abi
        attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(obj)], capture_output=True, text=True,
                               timeout=60, check=True).stdout
        assert f'Tag_CPU_name: "{target}"' in attrs
        syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, timeout=60,
                              check=True).stdout.split("\n")
        names = [line.split()[-1] for line in syms if line.strip()]
        unprefixed = [n for n in names if not n.startswith("kws_") and not UNPREFIXED_ALLOWED.match(n)]
        assert names and not unprefixed, unprefixed


def test_kernels_split_into_hot_and_cold_objects(compiled):
    """Each kernel is in exactly one object; the hot ones do at least HOT_KERNEL_WORK stores."""
    from aotgen.compiler.llvm_build import HOT_KERNEL_WORK

    # A core without the DSP extension: KWS's 10x4 convolution stays a loop of its own there.
    lib = compiled("kws_ref_model", "kws", target="cortex-m3")
    tiers = {o["tuning"]: o for o in lib.metadata["llvm_objects"]}
    assert set(tiers) == {"hot", "cold"}
    in_objects = sorted(k for o in tiers.values() for k in o["kernels"])
    assert len(set(in_objects)) == len(in_objects) and set(in_objects) <= set(lib.metadata["kernels"])
    assert [lib.root / o["path"] for o in lib.metadata["llvm_objects"]] == lib.objects
    # KWS's first convolution (10x4 filter, 25x5x64 output: 8,000 stores of 40 MACs each) is hot;
    # the micro-kernel calls (pointwise and depthwise convolutions, the fully connected layer: no
    # loop of their own) are C in the glue, every other kernel is in an object.
    assert "kws_conv2d_int8" in tiers["hot"]["kernels"]
    in_glue = {"kws_conv1x1_int8", "kws_dwconv_int8", "kws_fully_connected_int8"}
    assert in_glue <= set(lib.metadata["kernels"]) and not in_glue & set(in_objects)
    assert set(lib.metadata["kernels"]) - set(in_objects) == {
        k for k in lib.metadata["kernels"] if k.startswith(("kws_conv1x1_int8", "kws_dwconv_int8", "kws_fully_connected"))}
    glue = lib.sources[0].read_text()
    assert all(f"static void {k}(" in glue for k in in_glue)
    assert HOT_KERNEL_WORK > 12 * 64


def test_kernel_work_counts_store_executions():
    from tvm.script import tirx as T

    from aotgen.compiler.llvm_build import kernel_work

    @T.prim_func
    def matvec(a: T.Buffer((8, 16), "int8"), x: T.Buffer((16,), "int8"), y: T.Buffer((8,), "int32")):
        for i in range(8):
            y[i] = 0
            for k in range(16):
                y[i] = y[i] + T.Cast("int32", a[i, k]) * T.Cast("int32", x[k])

    assert kernel_work(matvec) == 8 + 8 * 16


def test_float_abi_mismatch_is_refused_before_linking(compiled):
    lib = compiled("kws_ref_model", "kws", target="cortex-m7")
    with pytest.raises(AotgenError, match="hard-float ABI but the firmware is built for soft-float"):
        check_object_abi(lib.objects, "soft", "model kws")


def test_project_refuses_kernels_built_for_another_cpu(compiled, tmp_path):
    from aotgen.firmware.boards import load_board
    from aotgen.firmware.project import generate_project

    lib = compiled("kws_ref_model", "kws", target="cortex-m7")  # with objects (machine code for the M7)
    with pytest.raises(AotgenError, match="compiled for cortex-m7, but mps2_an385 is a cortex-m3"):
        generate_project([lib], load_board("mps2_an385"), "cmsis", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


def test_board_name_as_target_and_riscv32(compiled):
    lib = compiled("hello_world_int8", "hw", target="nucleo_f746zg")
    assert lib.metadata["target"]["cpu"] == "cortex-m7"
    rv = compiled("hello_world_int8", "hw", target="riscv32")
    for obj in rv.objects:
        header = obj.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and header[4] == 1  # 32-bit ELF
        assert int.from_bytes(header[18:20], "little") == 243  # EM_RISCV
