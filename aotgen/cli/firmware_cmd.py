"""`aotgen boards`, `aotgen project`, `aotgen build`: boards, project generation, firmware build."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

import click
from rich.table import Table

from ..firmware import boards as boards_mod
from ..firmware import build as firmware
from ..firmware import project, qemu
from ..api import libraries_for_board
from ..firmware.apps import DEFAULT_APP, check_app
from ..firmware.templates import APPS, choose_template
from .options import (BACKEND_OPT, FORCE_OPT, IO_IN_ARENA_OPT, SET_OPT, TEMPLATE_DIR_OPT, TEMPLATE_OPT, WORKSPACE_OPT,
                      emit_json, progress)
from ..outputs import refuse_overwrite
from ..ui import console, err_console


def _size(n: int) -> str:
    for unit, div in (("MiB", 1024**2), ("KiB", 1024)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


@click.command("boards")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def boards_command(as_json: bool) -> None:
    """List the boards aotgen can generate firmware for."""
    all_boards = boards_mod.list_boards()
    if as_json:
        emit_json({"boards": [b.to_json() for b in all_boards]})
        return
    # Fits an 80-column log: names and sizes never wrap; the lists wrap between their words.
    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    for col in ("board", "CPU", "FPU", "flash", "RAM"):
        table.add_column(col, no_wrap=True)
    table.add_column("templates", min_width=len("templates"))
    table.add_column("emulator", no_wrap=True)
    for b in all_boards:
        qemu = "QEMU" if b.qemu_runnable else (b.qemu_twin if b.qemu_twin else
                                               (b.simulator.name if b.simulator else "no"))
        table.add_row(b.name, b.cpu, b.fpu, _size(b.flash.size), _size(b.ram.size),
                      ", ".join(b.templates), qemu)
    console.print(table)
    console.print("emulator: QEMU or simavr runs it; a board name: its QEMU twin", highlight=False)


@click.command("project")
@click.argument("models", nargs=-1, required=True, metavar="MODEL_OR_MLF...")
@click.option("--board", "-b", "board_name", required=True, help="Board name (see `aotgen boards`).")
@TEMPLATE_OPT
@TEMPLATE_DIR_OPT
@SET_OPT
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="Project folder to create.")
@FORCE_OPT
@click.option("--prefix", help="C prefix when compiling a single model file.")
@BACKEND_OPT
@WORKSPACE_OPT
@IO_IN_ARENA_OPT
@click.option("--app", "app", type=click.Choice(APPS), default=DEFAULT_APP, show_default=True,
              help="What main runs: the test harness (aotgen test), a minimal application to start yours "
                   "from, or firmware for the MLPerf Tiny runner (aotgen mlperf).")
@click.option("--model-id", default=None, metavar="ID",
              help="mlperf-tiny: the id `profile` reports (kws01, vww01, ic01, ad01 are recognised from the "
                   "model) [default: recognised, else the prefix].")
@click.option("--energy-mode", "energy", is_flag=True,
              help="mlperf-tiny: timestamps pulse the board's timestamp pin (energy runs) instead of printing.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def project_command(models: tuple[str, ...], board_name: str, template: str | None, template_dir: Path | None,
                    set_items: tuple[str, ...], output: Path, force: bool,
                    prefix: str | None, backend: str, workspace: str, io_in_arena: bool, app: str,
                    model_id: str | None, energy: bool, as_json: bool) -> None:
    """Generate a firmware project for a board from models (.tflite/.onnx) or compiled libraries."""
    board = boards_mod.load_board(board_name)
    spec, source, overrides = choose_template(board, template, template_dir, set_items)  # before compiling
    check_app(app, board, spec, model_id, energy)
    template = spec.name
    refuse_overwrite(output, force)  # before compiling anything
    with tempfile.TemporaryDirectory(prefix="aotgen-project-") as tmp, progress(as_json) as say:
        libs = libraries_for_board(list(models), prefix, board, Path(tmp),
                                   {"backend": backend, "workspace": workspace, "io_in_arena": io_in_arena}, say)
        say(f"generating {template} project for {board.name}")
        path = project.generate_project(libs, board, source, output, force=force, context_overrides=overrides,
                                        app=app, app_options={"model_id": model_id, "energy": energy})
    info = project.load_project(path)
    if as_json:
        emit_json({"project": str(path), "board": board.name, "template": template,
                   "models": [m.prefix for m in libs], "app": info.app})
        return
    what = f"{app} app" + (f", model id {info.app['model_id']}" if app == "mlperf-tiny" else "")
    console.print(f"[green]project[/] {path} ({board.name}, {template}, {what}; models: "
                  f"{', '.join(m.prefix for m in libs)})", highlight=False)
    console.print(f"build it with: aotgen build {path}", highlight=False)


@click.command("templates")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def templates_command(as_json: bool) -> None:
    """List the built-in project templates, their variables and the boards they support."""
    from ..firmware.templates import list_templates

    specs = list_templates()
    if as_json:
        emit_json({"templates": [t.to_json() for t in specs]})
        return
    table = Table(box=None, header_style="bold")
    for col in ("template", "build", "boards", "variables (--set)"):
        table.add_column(col)
    for t in specs:
        table.add_row(t.name, t.build, ", ".join(t.boards()), ", ".join(k for k in t.defaults if k != "project_slug"))
    console.print(table)
    console.print("your own: aotgen project ... --template-dir DIR (context variables: docs/templates.md)",
                  highlight=False)


def _usage(used: int, limit: int) -> str:
    return f"{used:,} / {limit:,} bytes ({100 * used / limit:.1f}%)"


@click.command("build")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.option("--timeout", default=firmware.DEFAULT_TIMEOUT, show_default=True, help="Seconds before the build is stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def build_command(project_dir: Path, timeout: float, as_json: bool) -> None:
    """Build a generated project's firmware and check it fits the board."""
    info = project.load_project(project_dir)

    def stream(line: str) -> None:
        if not as_json:
            err_console.print(line, style="dim", markup=False, highlight=False)

    result = firmware.build(project_dir, timeout=timeout, on_line=stream)
    if as_json:
        emit_json({"board": info.board_name, **result.to_json()})
        return
    console.print(f"[green]built[/] {result.elf} for {info.board_name}", highlight=False)
    console.print(f"  flash {_usage(result.flash_used, result.flash_limit)}", highlight=False)
    console.print(f"  RAM   {_usage(result.ram_used, result.ram_limit)}", highlight=False)
    board = info.board()
    emulator = "QEMU" if info.data["board"].get("qemu") else (board.simulator.name if board.simulator else None)
    app = info.app["name"]
    if app == "harness" and emulator:
        console.print(f"test it in {emulator} with: aotgen test {info.root}", highlight=False)
    elif app == "mlperf-tiny":
        console.print(f"drive it{' in ' + emulator if emulator else ''} with: aotgen mlperf {info.root}",
                      highlight=False)
    elif app == "minimal" and info.data["board"].get("qemu"):
        console.print(f"run it in QEMU with: {shlex.join(qemu.command_line(board, info.elf))}", highlight=False)


COMMANDS = [boards_command, project_command, templates_command, build_command]
