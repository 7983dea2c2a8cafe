"""What the verb modules share: common options, progress on stderr, JSON on stdout."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.markup import escape

from ..errors import NoReferenceError
from ..ui import err_console
from ..verify.compare import save_samples
from ..verify.reference import REFERENCES

MODEL_ARG = click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
PREFIX_OPT = click.option(
    "--prefix", default=None,
    help="C identifier every generated symbol starts with [default: the model file name].")
JSON_OPT = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout, no progress.")
BACKEND_OPT = click.option("--backend", type=click.Choice(["c", "llvm"]), default="c", show_default=True,
                           help="c: portable C sources; llvm: kernels as object code for the target.")
WORKSPACE_OPT = click.option(
    "--workspace", type=click.Choice(["static", "user"]), default="static", show_default=True,
    help="static: the library owns its arena; user: the caller passes it with <prefix>_set_workspace.")
# One meaning per short option on every command: -b board, -t template, -p port, -o output,
# -i inputs, -n count, -f force, -v verbose.
TEMPLATE_OPT = click.option("--template", "-t", default=None,
                            help="Built-in project template (see `aotgen templates`) [default: the board's first].")
TEMPLATE_DIR_OPT = click.option(
    "--template-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    help="Your own cookiecutter template folder instead (context: docs/templates.md).")
SET_OPT = click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
                       help="Override a template variable (repeatable), e.g. --set stack_bytes=4096 --set opt_flags=-O3.")
PORT_OPT = click.option("--port", "-p", default=None,
                        help="Serial port of a real board (a device or a pyserial URL) [default: found by USB id].")
PLACE_OPT = click.option("--place", "places", multiple=True, metavar="NAME",
                         help="Test on this labgrid place instead (repeat: the same samples on several, in parallel; "
                              "docs/farm.md). Acquired unless you hold it, released afterwards.")
COORDINATOR_OPT = click.option("--coordinator", default=None, metavar="HOST:PORT",
                               help="labgrid coordinator of --place [default: $LG_COORDINATOR or 127.0.0.1:20408].")
HANDSHAKE_TIMEOUT_OPT = click.option("--handshake-timeout", type=click.FloatRange(min=0.1), default=10.0,
                                     show_default=True, help="Seconds to wait for the firmware's READY banner.")
RUN_TIMEOUT_OPT = click.option("--run-timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
                               help="Seconds one inference may take.")
FORCE_OPT = click.option(
    "--force", "-f", is_flag=True,
    help="Replace what aotgen wrote in an existing output (a folder or tarball it wrote before); files you "
         "added there are kept, and other folders are never written into.")
IO_IN_ARENA_OPT = click.option(
    "--io-in-arena", is_flag=True,
    help="Place inputs and outputs inside the arena too (zero-copy <prefix>_<tensor>_buffer() accessors).")

REFERENCE_OPT = click.option(
    "--reference", type=click.Choice(REFERENCES), default="auto", show_default=True,
    help="The interpreter to compare with. auto: ai-edge-litert's reference kernels for TFLite (TFLite Micro's "
         "interpreter if LiteRT refuses the model), onnxruntime for ONNX; tflm: TFLite Micro's (the [tflm] extra).")
EXPECTED_OPT = click.option(
    "--expected", "expected_files", multiple=True, metavar="[PREFIX=]FILE.npy",
    help="Compare with saved outputs instead of an interpreter (repeat: one file per model output, per --inputs "
         "sample, in order; no random samples then).")


def sample_count(count: int | None, expected_files: tuple[str, ...], default: int) -> int:
    """--count's value: `default`, or 0 with --expected (random samples have no saved outputs)."""
    return count if count is not None else (0 if expected_files else default)


def reference_note(note: str | None) -> None:
    """The one-line note of a fallback reference (in JSON: the report's reference_note)."""
    if note:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def outputs_kept(save_outputs: Path | None) -> Iterator[None]:
    """When no reference can run, the outputs under test are still saved (--save-outputs) before
    the one-line error, which says where they are."""
    try:
        yield
    except NoReferenceError as e:
        if save_outputs is not None:
            save_samples(save_outputs, e.groups)
            e.args = (f"{e}; nothing was compared, the outputs are saved in {save_outputs}",)
        raise


@contextlib.contextmanager
def progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """A callback showing the current step: a spinner on a terminal, plain lines in logs, nothing
    with --json (stdout must stay parseable, and stderr quiet for scripts)."""
    if quiet:
        yield lambda _msg: None
    elif not err_console.is_terminal:
        yield lambda msg: err_console.print(f"[dim]{msg}[/]", highlight=False)
    else:
        with err_console.status("starting") as spinner:
            yield spinner.update


def _strict(value):
    """Non-finite floats as the strings "NaN", "Infinity", "-Infinity": JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def emit_json(data: dict) -> None:
    click.echo(json.dumps(_strict(data), indent=2, default=str, allow_nan=False))
