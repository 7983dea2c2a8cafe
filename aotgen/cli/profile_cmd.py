"""`aotgen profile`: instructions per layer of the shipped firmware, in QEMU."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich import box
from rich.table import Table

from ..api import libraries_for_board
from ..errors import AotgenError
from ..outputs import refuse_overwrite
from ..firmware import boards
from ..firmware.build import build
from ..firmware.project import generate_project
from ..firmware.project_info import PROJECT_FILE
from ..harness.profile import Profile, profile_model, require_qemu
from ..harness.runner import project_libraries
from ..ui import console
from .options import FORCE_OPT, BACKEND_OPT, IO_IN_ARENA_OPT, WORKSPACE_OPT, emit_json, progress


def _table(p: Profile) -> Table:
    table = Table(title=f"{p.prefix} on {p.board}: {p.unit} per inference, mean of {p.inferences}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)  # no side rules: room for kernel names
    for col in ("#", "layer", "output", "MACs", "count", "MAC/count", "share"):
        # Only the kernel name may fold: numbers and shapes stay whole in an 80-column log.
        table.add_column(col, justify="left" if col in ("layer", "output") else "right", overflow="fold",
                         no_wrap=col != "layer")
    for layer in p.layers:
        name = layer.kernel.removeprefix(f"{p.prefix}_")
        table.add_row(str(layer.index) if name != "run glue" else "", name,
                      "x".join(map(str, layer.output_shape)), f"{layer.macs:,}" if layer.macs else "",
                      f"{layer.count:,.0f}", f"{layer.macs_per_count:.3f}" if layer.macs_per_count else "",
                      f"{layer.count / p.total:.1%}" if p.total else "")
    macs = sum(layer.macs for layer in p.layers)
    table.add_row("", "[bold]total[/]", "", f"{macs:,}", f"[bold]{p.total:,.0f}[/]",
                  f"{macs / p.total:.3f}" if p.total else "", "100%")
    return table


@click.command("profile")
@click.argument("source", type=click.Path(exists=True, path_type=Path), metavar="MODEL_OR_MLF_OR_PROJECT")
@click.option("--board", "-b", "board_name", default=None,
              help="Board (a QEMU board) [required for a model; default: the project's].")
@click.option("--template", "-t", default="cmsis", show_default=True,
              help="Project template for a model (see `aotgen templates`).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the generated project here [default: a temporary folder].")
@FORCE_OPT
@BACKEND_OPT
@WORKSPACE_OPT
@IO_IN_ARENA_OPT
@click.option("--count", "-n", type=click.IntRange(min=1), default=2, show_default=True,
              help="Inferences to average over (seeded random inputs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON on stdout.")
def profile_command(source: Path, board_name: str | None, template: str, output: Path | None, force: bool,
                    backend: str, workspace: str, io_in_arena: bool, count: int, seed: int, as_json: bool) -> None:
    """Count the instructions each layer of the firmware executes in QEMU (a counting plugin, so the
    code measured is the code shipped; the rows add up to the whole inference). SOURCE is a model
    (compiled and built for --board), a Model Library Format folder, or a generated project."""
    with tempfile.TemporaryDirectory(prefix="aotgen-profile-") as tmp, progress(as_json) as say:
        if (source / PROJECT_FILE).is_file():
            project = source
            made_for = project_libraries(project)[0].name
            if board_name is not None and board_name != made_for:
                raise AotgenError(f"{source} was generated for {made_for}, not {board_name}")
        else:
            if board_name is None:
                raise AotgenError("profiling a model needs --board (a QEMU board, see `aotgen boards`)")
            board = boards.load_board(board_name)
            require_qemu(board)  # before compiling anything
            if output is not None:
                refuse_overwrite(output, force)
            libs = libraries_for_board([source], None, board, Path(tmp),
                                       {"backend": backend, "workspace": workspace, "io_in_arena": io_in_arena}, say)
            say(f"generating the {template} project")
            project = generate_project(libs, board, template, output or Path(tmp) / "project", force=force)
        say(f"building {project}")
        build(project)
        board, elf, libs = project_libraries(project)
        profiles = [profile_model(board, elf, libs, k, count, seed, say) for k in range(len(libs))]
    if as_json:
        emit_json({"profiles": [p.to_json() for p in profiles]})
        return
    for p in profiles:
        console.print(_table(p))
        if p.harness_count is not None:
            console.print(f"the firmware's own counter around {p.prefix}_run: {p.harness_count:,.0f} {p.unit}",
                          highlight=False)


COMMANDS = [profile_command]
