"""`aotgen compile` and `aotgen check-host`: thin wrappers over `aotgen.compile` and
`aotgen.hostcheck.check_model`. All logic lives in the library; this module parses options,
shows progress on stderr and prints results (a table, or JSON on stdout with --json)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import api
from ..compiler import pipeline as compiler
from ..compiler import mlf
from .options import (EXPECTED_OPT, FORCE_OPT, BACKEND_OPT, IO_IN_ARENA_OPT, JSON_OPT, MODEL_ARG, PREFIX_OPT,
                      REFERENCE_OPT, WORKSPACE_OPT, emit_json, outputs_kept, progress, reference_note, sample_count)
from ..errors import AotgenError, CheckFailed
from ..verify.compare import save_samples
from ..verify.hostcheck import ModelCheck, check_library, check_model
from ..compiler.targets import CPUS
from ..ui import console

def default_output(model: Path, prefix: str | None) -> Path:
    """`build/<prefix>` under the current directory: predictable, and kept out of git by .gitignore."""
    return Path("build") / compiler.validate_prefix(prefix or compiler.default_prefix(model))


@click.command("compile")
@MODEL_ARG
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Output folder, or a .tar file [default: build/<prefix>].")
@PREFIX_OPT
@click.option("--target", default="host", show_default=True, metavar="CPU|BOARD",
              help=f"CPU ({', '.join(CPUS)}) or board name to compile for (C sources stay portable; "
                   "--backend llvm objects are for this CPU).")
@BACKEND_OPT
@WORKSPACE_OPT
@IO_IN_ARENA_OPT
@FORCE_OPT
@JSON_OPT
def compile_command(model: Path, output: Path | None, prefix: str | None, target: str, backend: str,
                    workspace: str, io_in_arena: bool, force: bool, as_json: bool) -> None:
    """Compile a .tflite or .onnx MODEL to C (a Model Library Format folder or tarball)."""
    output = output or default_output(model, prefix)
    with progress(as_json) as say:
        result = api.compile(model, output, prefix=prefix, target=target, backend=backend,
                                  workspace=workspace, io_in_arena=io_in_arena, force=force, progress=say)
    summary = result.summary()
    summary["timings"] = result.timings
    if as_json:
        emit_json(summary)
        return
    console.print(
        f"[bold green]compiled[/] {model.name} -> {summary['output']}\n"
        f"  prefix {summary['prefix']}, {summary['operators']} operators, {summary['kernels']} kernels\n"
        f"  constants {summary['constant_bytes']:,} B, arena {summary['workspace_bytes']:,} B "
        f"(lower bound {summary['workspace_lower_bound']:,} B), {summary['seconds']:.2f} s",
        highlight=False,
    )
    if result.path.is_dir():  # a tarball's header has no path until extracted
        console.print(f"  header {result.library.header}", highlight=False)


@click.command("check-host")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--inputs", "-i", "input_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="A .npy input sample (repeat the option; one file per model input, in input order).")
@click.option("--count", "-n", type=click.IntRange(min=0), default=None, show_default="5, 0 with --expected",
              help="Random input samples to run besides the --inputs files.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--atol", type=click.FloatRange(min=0), default=None,
              help="Max absolute error; integer outputs default to 2 (LSB).")
@click.option("--rtol", type=click.FloatRange(min=0), default=None,
              help="Max error relative to the reference's largest magnitude; float outputs default to 1e-4.")
@REFERENCE_OPT
@EXPECTED_OPT
@click.option("--save-outputs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every sample's inputs and outputs as .npy: DIR/sample_<i>/{input,output}_<j>.npy "
                   "(also when no reference can run).")
@PREFIX_OPT
@BACKEND_OPT
@WORKSPACE_OPT
@IO_IN_ARENA_OPT
@JSON_OPT
def check_host_command(model: Path, input_files: tuple[str, ...], count: int | None, seed: int, atol: float | None,
                       rtol: float | None, reference: str, expected_files: tuple[str, ...], save_outputs: Path | None,
                       prefix: str | None, backend: str, workspace: str, io_in_arena: bool, as_json: bool) -> None:
    """Compile MODEL, run it on this machine and compare with the reference interpreter.

    MODEL may also be a library `aotgen compile` wrote (folder or .tar): it is checked as it is.
    Exits 0 only if every output of every sample is within tolerance.
    """
    count = sample_count(count, expected_files, 5)
    if count == 0 and not input_files:
        raise AotgenError("nothing to check: give --count > 0 or --inputs")
    with progress(as_json) as say, outputs_kept(save_outputs):
        if mlf.is_model_library(model) or model.is_dir():
            given = [opt for opt, used in (("--prefix", prefix is not None), ("--backend", backend != "c"),
                                           ("--workspace", workspace != "static"), ("--io-in-arena", io_in_arena)) if used]
            if given:
                raise AotgenError(f"{model} is an already compiled library: drop {', '.join(given)} (options for compiling)")
            check = check_library(mlf.load(model), list(input_files), count, seed, atol, rtol, progress=say,
                                  reference=reference, expected_files=expected_files)
        else:
            check = check_model(model, list(input_files), count=count, seed=seed, atol=atol, rtol=rtol,
                                prefix=prefix, progress=say, reference=reference, expected_files=expected_files,
                                backend=backend, workspace=workspace, io_in_arena=io_in_arena)
    if save_outputs is not None:
        save_samples(save_outputs, [("", check.samples, check.outputs)])
    report = check.report
    if as_json:
        emit_json(report.to_json())
    else:
        reference_note(report.reference_note)
        console.print(report_table(check))
        if save_outputs is not None:
            console.print(f"outputs saved in {save_outputs}", highlight=False)
    if not report.passed:
        failed = sum(not s.passed for s in report.samples)
        raise CheckFailed(f"host check failed: {failed} of {len(report.samples)} samples outside tolerance")
    if not as_json:
        console.print(f"[bold green]passed[/]: {len(report.samples)} samples match {report.reference} "
                      f"- max abs error {report.max_abs_error():.3g}", highlight=False)


def report_table(check: ModelCheck) -> Table:
    report = check.report
    n_random = len(report.samples) - check.file_samples
    outputs = check.metadata["outputs"]
    single = len(outputs) == 1  # then name the output in the title: long tensor names crowd the table
    named = f" output '{outputs[0]['name']}'" if single else ""
    title = f"{report.model}{named} vs {report.reference}"
    table = Table(title=title, title_justify="left")
    table.add_column("sample", no_wrap=True)
    if not single:
        table.add_column("output", overflow="fold")
    for col in ("max |err|", "rel err"):
        table.add_column(col, justify="right", no_wrap=True)
    for col in ("argmax", "bound", "result"):
        table.add_column(col, no_wrap=True)
    for s in report.samples:
        origin = f"random {s.index}" if s.index < n_random else f"file {s.index - n_random}"
        for o in s.outputs:
            cells = [f"{o.max_abs_error:.3g}", f"{o.rel_error:.1e}", "same" if o.argmax_match else "differs",
                     o.tolerance.replace(" relative", " rel"), "[green]pass[/]" if o.passed else "[bold red]FAIL[/]"]
            table.add_row(origin, *([] if single else [o.output]), *cells)
    return table


COMMANDS = [compile_command, check_host_command]
