"""Generate a firmware project from model libraries, a board and a cookiecutter template.

The project is rendered into a temporary folder beside the destination and moved into place
only when complete, so a failure never leaves a half-written project. The project records what it
was generated for in aotgen_project.json, which `aotgen build` reads.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cookiecutter.exceptions import CookiecutterException
from cookiecutter.generate import generate_context, generate_files
from cookiecutter.prompt import prompt_for_config

from . import qemu
from .apps import DEFAULT_APP, App, choose_app
from .boards import Board
from .fit import check_fit_before_link
from .project_info import PROJECT_FILE, PROJECT_SCHEMA_VERSION, load_project
from .templates import TemplateSpec, load_template
from ..errors import AotgenError
from ..outputs import publish, refuse_overwrite, staging_dir
from ..compiler.mlf import ModelLibrary
from ..compiler.targets import check_object_abi
from ..compiler.tensors import TensorInfo
from ..verify.compare import random_inputs

DEFAULT_STACK_BYTES = 8 * 1024
DEFAULT_SEED = 0
# Room left in the DTCM beside the model arenas for the libraries' other zero-initialised data.
_DTCM_HEADROOM = 1024


def test_inputs(models: list[ModelLibrary], seed: int = DEFAULT_SEED) -> dict[tuple[str, str], np.ndarray]:
    """The embedded test inputs: model k gets verify.random_inputs(..., seed + k), the same rule
    (and distribution) `aotgen test` and `check-host` use."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for k, m in enumerate(models):
        for t, arr in zip(m.inputs, random_inputs(m.inputs, 1, seed + k)[0]):
            out[(m.prefix, t.c_name)] = arr
    return out


def _c_values(arr: np.ndarray) -> str:
    """C initialiser text; floats as hex literals so the embedded value is exact."""
    flat = arr.reshape(-1)
    if flat.dtype == np.float32:
        items = [float(v).hex() + "f" for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    return ",\n".join("    " + ", ".join(items[i : i + 16]) for i in range(0, len(items), 16))


def _tensor_context(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "c_name": t.c_name, "c_type": t.c_type, "dtype": t.dtype, "size": t.size}


def _memory_context(board: Board, models: list[ModelLibrary], stack_bytes: int) -> dict[str, Any]:
    static_ws = sum(m.workspace_bytes for m in models if not _workspace_user(m))
    user_ws = max((m.workspace_bytes for m in models if _workspace_user(m)), default=0)
    ram, dtcm = board.ram, board.dtcm
    # A DTCM at the start of the RAM is split off into its own region; one that is the whole RAM
    # (e.g. the AN547 here) is just the RAM.
    split = dtcm is not None and dtcm.size < ram.size
    if split and dtcm.origin != ram.origin:
        raise AotgenError(f"board {board.name}: the cmsis template needs the DTCM at the start of the RAM")
    in_dtcm = split and static_ws + user_ws + _DTCM_HEADROOM <= dtcm.size
    ram_origin, ram_size = (dtcm.end, ram.size - dtcm.size) if split else (ram.origin, ram.size)
    return {
        "flash_origin": f"0x{board.flash.origin:08X}",
        "flash_size": board.flash.size,
        "ram_origin": f"0x{ram_origin:08X}",
        "ram_size": ram_size,
        "dtcm": split,
        "dtcm_origin": f"0x{dtcm.origin:08X}" if split else "0x0",
        "dtcm_size": dtcm.size if split else 0,
        "models_in_dtcm": in_dtcm,
        "stack_bytes": stack_bytes,
    }


# C library math functions generated kernels may call (float models: softmax, tanh, sigmoid, ...).
_LIBM = {f + suffix for f in ("exp", "expm1", "log", "log1p", "log2", "log10", "pow", "sqrt", "tanh", "erf", "sin",
                              "cos", "tan", "atan", "atan2", "floor", "ceil", "round", "nearbyint", "rint", "fmod",
                              "cbrt", "asin", "acos", "sinh", "cosh", "lround", "trunc") for suffix in ("", "f")}
_CALL_RE = re.compile(r"\b([a-z][a-z0-9]*)\s*\(")
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def libm_calls(models: list[ModelLibrary]) -> list[str]:
    """libm functions the models' C sources call (comments ignored): a template must link a libm."""
    found: set[str] = set()
    for m in models:
        for src in m.sources:
            text = _COMMENT_RE.sub("", src.read_text(errors="replace"))
            found |= {name for name in _CALL_RE.findall(text) if name in _LIBM}
    return sorted(found)


def model_stack_bytes(models: list[ModelLibrary]) -> int:
    """Stack for the thread that runs the harness and the models: the harness's frames and the
    kernels' locals (the kernels keep their scratch in the arena) fit in 2 KiB; libm's float
    routines and printf-free soft-float helpers take up to 1 KiB more."""
    return 2048 + (1024 if libm_calls(models) else 0)


def _workspace_user(m: ModelLibrary) -> bool:
    return m.metadata.get("options", {}).get("workspace") == "user"


def _pin(pin: str | None) -> tuple[int, int]:
    """'PD8' -> (3, 8): GPIO port index and pin number."""
    if not pin:
        return 0, 0
    return ord(pin[1]) - ord("A"), int(pin[2:])


def build_context(
    models: list[ModelLibrary], board: Board, inputs: dict[tuple[str, str], np.ndarray], stack_bytes: int
) -> dict[str, Any]:
    """The `_aotgen` cookiecutter variable (documented in project_templates/cmsis/README.md)."""
    c = board.console
    tx_port, tx_pin = _pin(c.pins.get("tx"))
    rx_port, rx_pin = _pin(c.pins.get("rx"))
    elf = Path("build/firmware.elf")
    return {
        "aotgen_version": _aotgen_version(),
        "board": {
            "name": board.name,
            "description": board.description,
            "cpu": board.cpu,
            "fpu": board.fpu,
            "float_abi": board.float_abi,
            "has_fpu": board.has_fpu,
            "gcc_flags": " ".join(board.gcc_flags),
            "cycle_counter": board.cycle_counter,
            "counter_hz": board.qemu.sysclk_hz if board.cycle_counter == "systick_icount" else board.reset_clock_hz,
            "qemu": board.qemu_runnable,
            "qemu_command": " ".join(qemu.command_line(board, elf)) if board.qemu else "",
            "flash_methods": [{"tool": f.tool, "command": shlex.join(f.argv(elf)), "note": f.note}
                              for f in board.flash_methods],
            "console": {
                "peripheral": c.peripheral,
                "driver": c.driver,
                "base": f"0x{c.base:08X}",
                "baud": c.baud,
                "clock_hz": c.clock_hz,
                "tx_port": tx_port, "tx_pin": tx_pin, "rx_port": rx_port, "rx_pin": rx_pin,
                "af": int(c.pins.get("af", 0)),
                "gpio_base": f"0x{c.gpio_base or 0:08X}",
                "pins": ", ".join(f"{k.upper()} {v}" for k, v in c.pins.items() if k != "af"),
                "setup": [{"reg": f"0x{s.reg:08X}", "mask": f"0x{s.mask:08X}", "what": s.what} for s in c.setup],
            },
            "timestamp_pin": {
                "reg": f"0x{board.timestamp_pin.reg:08X}", "mask": f"0x{board.timestamp_pin.mask:08X}",
                "what": board.timestamp_pin.what,
                "setup": [{"reg": f"0x{s.reg:08X}", "mask": f"0x{s.mask:08X}", "what": s.what}
                          for s in board.timestamp_pin.setup],
            } if board.timestamp_pin else None,
        },
        "memory": _memory_context(board, models, stack_bytes),
        "workspace_user_bytes": max((m.workspace_bytes for m in models if _workspace_user(m)), default=0),
        "needs_libm": libm_calls(models),
        "models": [
            {
                "prefix": m.prefix,
                "library": f"models/{m.prefix}",
                "include_dir": f"models/{m.prefix}/{m.include_dir.relative_to(m.root).as_posix()}",
                "sources": [f"models/{m.prefix}/{s}" for s in m.metadata["sources"]],
                "objects": [f"models/{m.prefix}/{o}" for o in m.metadata.get("objects", [])],
                "workspace_user": _workspace_user(m),
                "workspace_bytes": m.workspace_bytes,
                "constant_bytes": m.constant_bytes,
                "inputs": [dict(_tensor_context(t), init=_c_values(inputs[(m.prefix, t.c_name)])) for t in m.inputs],
                "outputs": [_tensor_context(t) for t in m.outputs],
            }
            for m in models
        ],
    }


def _aotgen_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aotgen")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _check_models(models: list[ModelLibrary], board: Board) -> None:
    if not models:
        raise AotgenError("a project needs at least one model")
    seen: set[str] = set()
    for m in models:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", m.prefix):
            raise AotgenError(f"{m.root}: prefix '{m.prefix}' is not a C identifier")
        if m.prefix in seen:
            raise AotgenError(f"two models have the prefix '{m.prefix}'; compile them with different --prefix values")
        seen.add(m.prefix)
        for f in [m.header, *m.sources, *m.objects]:
            if not f.is_file():
                raise AotgenError(f"{m.root}: model library is incomplete, {f.relative_to(m.root)} is missing")
        if m.objects:  # machine code: it must be for this board's CPU and float ABI
            built_for = m.metadata.get("target", {}).get("cpu")  # absent in hand-made libraries
            if built_for is not None and built_for != board.cpu:
                raise AotgenError(f"model '{m.prefix}' has kernels compiled for {built_for}, but {board.name} is a "
                                  f"{board.cpu}; recompile it with --target {board.cpu}")
            check_object_abi(m.objects, board.float_abi, f"model '{m.prefix}' on {board.name}")


def generate_project(
    models: list[ModelLibrary],
    board: Board,
    template: str | Path,
    output: Path,
    force: bool = False,
    context_overrides: dict[str, Any] | None = None,
    seed: int = DEFAULT_SEED,
    stack_bytes: int | None = None,
    extra_files: dict[str, str | Path] | None = None,
    app: str = DEFAULT_APP,
    app_options: dict[str, Any] | None = None,
) -> Path:
    """Render `template` (a built-in name or a template folder) for `board` with `models` into
    `output`; returns the project folder.

    context_overrides are merged into the cookiecutter context (top-level keys, and keys of the
    `_aotgen` dict when given as {"_aotgen": {...}}); the well-known variables (templates.KNOWN_
    VARIABLES: stack_bytes, baud_rate, ...) also update the `_aotgen` entries they stand for.
    extra_files adds or replaces files in the project (relative path -> text, or a Path to copy),
    e.g. the serial harness's main.c, inside the same all-or-nothing step.
    `app` is what main runs (aotgen.firmware.apps: harness, minimal, mlperf-tiny); app_options are
    the mlperf-tiny app's `model_id` and `energy`.
    """
    output = Path(output)
    if output.suffix == ".tar":
        raise AotgenError(f"{output}: a project is a folder, not a tarball")
    spec = load_template(template)
    if spec.board_key and spec.board_key not in board.templates:
        raise AotgenError(
            f"board {board.name} does not support template '{spec.name}'; it supports: {', '.join(board.templates)}"
        )
    _check_models(models, board)
    chosen = choose_app(app, models, board, spec, **(app_options or {}))
    if spec.flat_model_sources:
        for m in models:
            if m.objects:
                raise AotgenError(f"model '{m.prefix}' has prebuilt objects (--backend llvm); the {spec.name} template "
                                  "compiles C sources only: compile it with --backend c")
    refuse_overwrite(output, force)

    overrides = dict(context_overrides or {})
    if stack_bytes is None:
        stack_bytes = int(overrides.get("stack_bytes", spec.default("stack_bytes", DEFAULT_STACK_BYTES)))
        if stack_bytes == 0:  # the template asks aotgen to size it (zephyr)
            stack_bytes = model_stack_bytes(models)
    inputs = test_inputs(models, seed)
    aot_ctx = build_context(models, board, inputs, stack_bytes)
    aot_ctx["template"] = {"name": spec.name, "settings": dict(board.templates.get(spec.board_key or "", {}))}
    aot_ctx["app"] = chosen.context()
    extra: dict[str, Any] = {
        "project_slug": "project",
        "project_name": output.name,
        "board_name": board.name,
        "stack_bytes": stack_bytes,
        "baud_rate": board.console.baud,
        "_aotgen": aot_ctx,
    }
    for k, v in overrides.items():
        if k == "_aotgen" and isinstance(v, dict):
            aot_ctx.update(v)
        else:
            spec.check_variable(k)
            extra[k] = v
    spec.apply_known_variables(extra, aot_ctx)

    staging = staging_dir(output)
    try:
        project, variables = _render(spec.path, extra, staging)
        for m in models:
            _copy_library(m, project / "models" / m.prefix)
        src_dir = spec.sources_dir.format(**variables)
        files = chosen.files(models, src_dir, aot_ctx)
        if spec.flat_model_sources:
            files.update(_flat_model_sources(models, src_dir))
        _write_extra_files(project, {**files, **(extra_files or {})})
        _write_test_data(project, inputs)
        _write_project_file(project, board, spec, models, seed, variables, chosen)
        check_fit_before_link(load_project(project))  # a project that cannot fit is not written
        return publish(project, output, force, kind="project")
    except OSError as e:
        raise AotgenError(f"cannot write the project to {output}: {e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _flat_model_sources(models: list[ModelLibrary], src_dir: str) -> dict[str, Path]:
    """Each library's header and C sources side by side in `src_dir` (Arduino compiles only the
    sketch folder and has no include-path setting): their names start with the unique prefix."""
    files: dict[str, Path] = {}
    for m in models:
        for f in [m.header, *m.sources]:
            rel = f"{src_dir}/{f.name}"
            if rel in files:
                raise AotgenError(f"model '{m.prefix}': {f.name} clashes with another model's file in {src_dir}")
            files[rel] = f
    return files


def _render(template_dir: Path, extra: dict[str, Any], staging: Path) -> tuple[Path, dict[str, Any]]:
    """Run cookiecutter's generator (no prompts, no replay file in the user's home); returns the
    project folder and the template's rendered top-level (public) variables."""
    try:
        context = generate_context(context_file=template_dir / "cookiecutter.json", extra_context=extra)
        context["cookiecutter"] = prompt_for_config(context, no_input=True)
        # Private variables are copied raw by prompt_for_config; put ours back untouched.
        context["cookiecutter"]["_aotgen"] = extra["_aotgen"]
        out = generate_files(repo_dir=str(template_dir), context=context, output_dir=str(staging))
    except CookiecutterException as e:
        raise AotgenError(f"template {template_dir.name}: {e}") from None
    except ValueError as e:  # e.g. an override outside a choice variable's choices
        raise AotgenError(f"template {template_dir.name}: {e}") from None
    variables = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
    return Path(out), variables


def _copy_library(m: ModelLibrary, dest: Path) -> None:
    """The whole Model Library Format folder, so mlf.load(dest) works (harness, reference model)."""
    shutil.copytree(m.root, dest)


def _write_extra_files(project: Path, files: dict[str, str | Path]) -> None:
    for rel, content in files.items():
        dest = (project / rel).resolve()
        if Path(rel).is_absolute() or not dest.is_relative_to(project.resolve()):
            raise AotgenError(f"extra file {rel!r} would be written outside the project")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy2(content, dest)
        else:
            dest.write_text(content)


def _write_test_data(project: Path, inputs: dict[tuple[str, str], np.ndarray]) -> None:
    (project / "test_data").mkdir()
    for (prefix, c_name), arr in inputs.items():
        np.save(project / "test_data" / f"{prefix}_{c_name}.npy", arr)


def _write_project_file(project: Path, board: Board, spec: TemplateSpec, models: list[ModelLibrary], seed: int,
                        variables: dict[str, Any], app: App) -> None:
    data = {
        "schema_version": PROJECT_SCHEMA_VERSION,
        "aotgen_version": _aotgen_version(),
        "template": spec.name,
        "template_dir": str(spec.path) if not spec.builtin else None,
        "template_settings": dict(board.templates.get(spec.board_key or "", {})),
        "app": app.context(),
        "context": {k: v for k, v in variables.items() if isinstance(v, (str, int, float, bool))},
        "build": {"system": spec.build, "elf": spec.elf.format(**variables),
                  "ram_overhead_bytes": spec.ram_overhead_bytes},
        "board": {
            "name": board.name,
            "source": str(board.source) if board.source else None,
            "flash_origin": board.flash.origin,
            "flash_bytes": board.flash.size,
            "ram_origin": board.ram.origin,
            "ram_bytes": board.ram.size,
            "qemu": board.qemu_runnable,
        },
        "seed": seed,
        "models": [
            {
                "prefix": m.prefix,
                "library": f"models/{m.prefix}",
                "model": m.metadata.get("model", {}),
                "workspace": m.metadata.get("options", {}).get("workspace", "static"),
                "workspace_bytes": m.workspace_bytes,
                "constant_bytes": m.constant_bytes,
                "io_in_arena": bool(m.metadata.get("options", {}).get("io_in_arena")),
                "inputs": [{"c_name": t.c_name, "dtype": t.dtype, "shape": t.shape,
                            "file": f"test_data/{m.prefix}_{t.c_name}.npy"} for t in m.inputs],
                "outputs": [{"c_name": t.c_name, "dtype": t.dtype, "shape": t.shape} for t in m.outputs],
            }
            for m in models
        ],
    }
    (project / PROJECT_FILE).write_text(json.dumps(data, indent=2) + "\n")


@dataclass
class ModelRun:
    status: int
    count: int
    unit: str
    outputs: dict[str, np.ndarray]
