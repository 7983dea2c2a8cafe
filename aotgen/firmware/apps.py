"""Firmware apps: what a generated project's main runs (`aotgen project --app`).

- harness: aotgen's serial test harness (`aotgen test` drives it; docs/harness-protocol.md).
- minimal: runs each model once on its sample input and prints the outputs and the count; the
  file users start their own application from (aotgen_app_minimal.c, rendered for the models).
- mlperf-tiny: the MLCommons MLPerf Tiny runner's protocol (aotgen_mlperf.c; `aotgen mlperf`,
  docs/mlperf.md).

Each app is one shared C file pair in project_templates/common/ over the same small platform port
the harness uses (aotgen_harness.h); every built-in template's main picks the app from
`_aotgen.app.name`. This module checks the choice and lists the files each app adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..compiler.mlf import ModelLibrary
from ..errors import AotgenError
from ..harness import COMMON_DIR, HARNESS_H
from ..harness.cgen import MODELS_C, models_source
from ..harness.install import TEMPLATE_WORKSPACE_SYMBOL, harness_files
from ..harness.mlperf import MLPERF_C, MLPERF_H
from ..harness.mlperf.cgen import MODEL_C as MLPERF_MODEL_C
from ..harness.mlperf.cgen import model_source as mlperf_model_source
from ..harness.mlperf.models import MlperfModel, mlperf_model
from ..version import __version__
from .boards import Board
from .templates import APPS, TemplateSpec

DEFAULT_APP = "harness"
MINIMAL_TEMPLATE = "aotgen_app_minimal.c.jinja"
MINIMAL_C = "aotgen_app_minimal.c"
MINIMAL_H = COMMON_DIR / "aotgen_app_minimal.h"


@dataclass(frozen=True)
class App:
    """The app a project runs, checked against its models, board and template."""

    name: str
    mlperf: MlperfModel | None = None  # mlperf-tiny: how the model meets the runner

    def context(self) -> dict[str, Any]:
        """`_aotgen.app` in the template context (and aotgen_project.json's "app")."""
        ctx: dict[str, Any] = {"name": self.name}
        if self.mlperf is not None:
            ctx.update(self.mlperf.to_json())
        return ctx

    def files(self, libs: list[ModelLibrary], src_dir: str, aot_ctx: dict[str, Any]) -> dict[str, str | Path]:
        """Project-relative path -> text or file to copy: the app's C files and what they need."""
        if self.name == "harness":
            return harness_files(libs, src_dir)
        user_ws = TEMPLATE_WORKSPACE_SYMBOL if any(m["workspace_user"] for m in aot_ctx["models"]) else None
        files: dict[str, str | Path] = {f"{src_dir}/{HARNESS_H.name}": HARNESS_H}  # the platform port
        if self.name == "minimal":
            files[f"{src_dir}/{MINIMAL_H.name}"] = MINIMAL_H
            files[f"{src_dir}/{MINIMAL_C}"] = render_minimal(libs, aot_ctx["models"], user_ws)
        else:
            assert self.mlperf is not None
            files[f"{src_dir}/{MODELS_C}"] = models_source(libs, user_ws)
            files[f"{src_dir}/{MLPERF_C.name}"] = MLPERF_C
            files[f"{src_dir}/{MLPERF_H.name}"] = MLPERF_H
            files[f"{src_dir}/{MLPERF_MODEL_C}"] = mlperf_model_source(self.mlperf)
        return files


def check_app(name: str | None, board: Board, spec: TemplateSpec, model_id: str | None = None,
              energy: bool = False) -> str:
    """The app's name, checked against the template and board before any model is compiled: an
    unknown app, a template that cannot run it, mlperf options given to another app, energy mode
    on a board without a timestamp pin are one-line errors."""
    name = name or DEFAULT_APP
    if name not in APPS:
        raise AotgenError(f"unknown app '{name}'; apps: {', '.join(APPS)}")
    if name not in spec.apps:
        raise AotgenError(f"template {spec.name} runs the app{'s' if len(spec.apps) > 1 else ''} "
                          f"{', '.join(spec.apps)}, not {name} (a template lists its apps in aotgen_template.yaml)")
    if name != "mlperf-tiny" and (model_id is not None or energy):
        raise AotgenError("--model-id and --energy-mode are options of --app mlperf-tiny")
    if energy and board.timestamp_pin is None:
        raise AotgenError(f"energy mode pulses the board's timestamp pin, and board {board.name} names none "
                          "(timestamp_pin in its board file, boards/README.md)")
    return name


def choose_app(name: str | None, libs: list[ModelLibrary], board: Board, spec: TemplateSpec,
               model_id: str | None = None, energy: bool = False) -> App:
    """The app for a project (check_app's checks, then: the mlperf-tiny app serves one model the
    runner's protocol can carry)."""
    name = check_app(name, board, spec, model_id, energy)
    if name != "mlperf-tiny":
        return App(name)
    if len(libs) != 1:
        raise AotgenError(f"the mlperf-tiny app serves one model; got {len(libs)} "
                          f"({', '.join(lib.prefix for lib in libs)})")
    return App(name, mlperf_model(libs[0], model_id, energy))


def render_minimal(libs: list[ModelLibrary], models_ctx: list[dict[str, Any]], workspace_symbol: str | None) -> str:
    """aotgen_app_minimal.c for the models (their `_aotgen.models` entries, inputs with `init`)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(COMMON_DIR)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    models = [dict(m, io_in_arena=bool(lib.metadata.get("options", {}).get("io_in_arena")))
              for m, lib in zip(models_ctx, libs)]
    needs_float = any(t["dtype"] == "float32" for m in models for t in m["outputs"])
    return env.get_template(MINIMAL_TEMPLATE).render(models=models, version=__version__,
                                                     workspace_symbol=workspace_symbol, needs_float=needs_float)
