"""`aotgen test` and `aotgen flash`: the serial harness against running firmware (QEMU or a board)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.table import Table

from ..api import libraries_for_board
from rich.markup import escape

from ..errors import AotgenError, CheckFailed, ExitCode
from ..outputs import refuse_overwrite
from ..firmware.flash import flash
from ..harness.runner import FirmwareTest, test_firmware
from ..harness.on_places import PlaceRun, test_on_places
from ..ui import console, err_console
from ..verify.compare import save_samples
from ..verify.reference import check_expected_options, choose_reference
from ..firmware.templates import choose_template
from .options import (BACKEND_OPT, COORDINATOR_OPT, EXPECTED_OPT, HANDSHAKE_TIMEOUT_OPT, IO_IN_ARENA_OPT, PLACE_OPT,
                      PORT_OPT, REFERENCE_OPT, RUN_TIMEOUT_OPT, SET_OPT, TEMPLATE_DIR_OPT, TEMPLATE_OPT, WORKSPACE_OPT,
                      emit_json, outputs_kept, progress, reference_note, sample_count)


def _table(result: FirmwareTest, prefixes: list[str]) -> Table:
    # The unit matters: QEMU counts instructions, real boards count core cycles. A single model or
    # output is named in the title, not in a column: an 80-column log keeps every cell whole.
    where = f"place {result.place}" if result.place else "the device"
    several_models = len(prefixes) > 1
    several_outputs = any(len(s.outputs) > 1 for r in result.reports for s in r.samples)
    named = "" if several_models else prefixes[0] if prefixes else ""
    if named and not several_outputs and result.reports and result.reports[0].samples:
        named += f" output '{result.reports[0].samples[0].outputs[0].output}'"
    table = Table(title=f"{named + ' ' if named else ''}on {where} via {result.transport}; count = {result.unit}",
                  title_justify="left")
    columns = [("model", "left")] if several_models else []
    columns += [("sample", "left")] + ([("output", "left")] if several_outputs else [])
    columns += [("max |err|", "right"), ("argmax", "left"), ("bound", "left"), ("count", "right"), ("result", "left")]
    for col, just in columns:
        table.add_column(col, justify=just, overflow="fold" if col == "output" else None, no_wrap=col != "output")
    for prefix, report in zip(prefixes, result.reports):
        for s in report.samples:
            for k, o in enumerate(s.outputs):
                table.add_row(*([prefix] if several_models else []), str(s.index), *([o.output] if several_outputs else []),
                              f"{o.max_abs_error:.3g}", "same" if o.argmax_match else "differs",
                              o.tolerance.replace(" relative", " rel"),
                              f"{s.cycles:,}" if k == 0 and s.cycles is not None else "",
                              "[green]pass[/]" if o.passed else "[bold red]FAIL[/]")
    return table


@click.command("test")
@click.argument("project_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--inputs", "-i", "input_files", multiple=True, metavar="[PREFIX=]FILE.npy",
              help="An input sample (repeat; one file per model input, in input order; PREFIX= names the "
                   "model when the firmware has several).")
@click.option("--count", "-n", type=click.IntRange(min=0), default=None, show_default="3, 0 with --expected",
              help="Random input samples (seeded, over each input's range) besides the --inputs files.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@PORT_OPT
@click.option("--atol", type=click.FloatRange(min=0), default=None,
              help="Max absolute error; integer outputs default to 2 (LSB).")
@click.option("--rtol", type=click.FloatRange(min=0), default=None,
              help="Max error relative to the reference's largest magnitude; float outputs default to 1e-4.")
@click.option("--model", "model_files", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The .tflite/.onnx to run the reference on, per model in firmware order "
                   "[default: the copy in the project].")
@REFERENCE_OPT
@EXPECTED_OPT
@HANDSHAKE_TIMEOUT_OPT
@RUN_TIMEOUT_OPT
@click.option("--save-outputs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every sample's inputs and the device's outputs as .npy (also when no reference can run).")
@click.option("--trace", is_flag=True, help="Log every protocol frame on stderr (board bring-up).")
@PLACE_OPT
@COORDINATOR_OPT
@click.option("--no-flash", is_flag=True, help="With --place: test what the place's board runs, even where the place "
                                               "can flash it (its firmware must still be this project's).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON on stdout.")
def test_command(project_dir: Path, input_files: tuple[str, ...], count: int | None, seed: int, port: str | None,
                 atol: float | None, rtol: float | None, model_files: tuple[Path, ...], reference: str,
                 expected_files: tuple[str, ...], handshake_timeout: float, run_timeout: float,
                 save_outputs: Path | None, trace: bool, places: tuple[str, ...], coordinator: str | None,
                 no_flash: bool, as_json: bool) -> None:
    """Send inputs to the firmware of a built project, read back outputs and counts, and compare
    with the reference interpreter. QEMU boards are started (and stopped) here.

    Exits 0 only if every output of every sample is within tolerance.
    """
    count = sample_count(count, expected_files, 3)
    if count == 0 and not input_files:
        raise AotgenError("nothing to test: give --count > 0 or --inputs")
    _check_place_options(places, port, coordinator)
    if places:
        if expected_files or reference != "auto":
            raise AotgenError("--place compares with the default reference only: drop --reference / --expected")
        with progress(as_json) as say:
            runs = test_on_places(project_dir, list(places), coordinator, count=count, seed=seed,
                                  input_files=list(input_files), flash=not no_flash, progress=say,
                                  model_files=list(model_files) or None, handshake_timeout=handshake_timeout,
                                  run_timeout=run_timeout, atol=atol, rtol=rtol, trace=_trace_line if trace else None)
        _finish_places(runs, save_outputs, as_json)
        return
    with progress(as_json) as say, outputs_kept(save_outputs):
        result = test_firmware(project_dir, count=count, seed=seed, input_files=list(input_files),
                               model_files=list(model_files) or None, port=port, reference=reference,
                               expected_files=list(expected_files), handshake_timeout=handshake_timeout,
                               run_timeout=run_timeout, atol=atol, rtol=rtol, progress=say,
                               trace=_trace_line if trace else None)
    _finish(result, save_outputs, as_json)


def _trace_line(line: str) -> None:
    err_console.print(f"[dim]frame {line}[/]", highlight=False)


def _check_place_options(places: tuple[str, ...], port: str | None, coordinator: str | None) -> None:
    if places and port:
        raise AotgenError("give --port or --place, not both: a place brings its own serial port")
    if coordinator and not places:
        raise AotgenError("--coordinator is the labgrid coordinator of --place: give the place too")


def _finish_places(runs: list[PlaceRun], save_outputs: Path | None, as_json: bool) -> None:
    """One report per place (one place: exactly as a local port); fails unless every place passed."""
    if len(runs) == 1:
        if runs[0].error is not None:
            raise runs[0].error
        _finish(runs[0].result, save_outputs, as_json, runs[0].to_json())
        return
    done = [r.result for r in runs if r.result is not None]
    if save_outputs is not None:
        save_samples(save_outputs, [(f"{res.place}/{p}" if len(res.prefixes) > 1 else res.place, samples, outputs)
                                    for res in done
                                    for p, samples, outputs in zip(res.prefixes, res.samples, res.outputs)])
    if as_json:
        emit_json({"passed": all(r.result is not None and r.result.passed for r in runs),
                   "places": [r.to_json() for r in runs]})
    failed: list[tuple[str, AotgenError]] = []
    for run in runs:
        try:
            if run.error is not None:
                raise run.error
            if as_json and not run.result.passed:
                raise CheckFailed("firmware test failed")
            if not as_json:
                _finish(run.result, None, False)
        except AotgenError as e:
            failed.append((run.place, e))
            if not as_json:
                err_console.print(f"[bold red]{'failed' if isinstance(e, CheckFailed) else 'error'}:[/] "
                                  f"{escape(str(e))}", highlight=False, soft_wrap=True)
    if save_outputs is not None and not as_json:
        console.print(f"inputs and outputs saved in {save_outputs}/<place>", highlight=False)
    if failed:
        # The exit code of the first error that is not a verdict (a device, a tool), else 1.
        code = next((e.exit_code for _, e in failed if not isinstance(e, CheckFailed)), ExitCode.CHECK_FAILED)
        summary = CheckFailed(f"{len(failed)} of {len(runs)} places did not pass: {', '.join(p for p, _ in failed)}")
        summary.exit_code = code
        raise summary
    if not as_json:
        console.print(f"[bold green]passed[/] on all {len(runs)} places", highlight=False)


def _finish(result: FirmwareTest, save_outputs: Path | None, as_json: bool, report: dict | None = None) -> None:
    """Save, print (table or JSON: `report`, default the result's) and fail unless every sample passed."""
    if save_outputs is not None:
        prefixes = result.prefixes
        save_samples(save_outputs, [(p if len(prefixes) > 1 else "", samples, outputs)
                                    for p, samples, outputs in zip(prefixes, result.samples, result.outputs)])
    if as_json:
        emit_json(report or result.to_json())
    else:
        for report in result.reports:
            reference_note(report.reference_note)
        console.print(_table(result, result.prefixes))
        if save_outputs is not None:
            console.print(f"inputs and outputs saved in {save_outputs}", highlight=False)
    if not result.passed:
        failed = sum(not s.passed for r in result.reports for s in r.samples)
        total = sum(len(r.samples) for r in result.reports)
        raise CheckFailed(f"firmware test failed: {failed} of {total} samples outside tolerance")
    if not as_json:
        n = sum(len(r.samples) for r in result.reports)
        link = result.link
        if link.retries:  # a noisy line is worth knowing about even when everything passed
            console.print(f"[yellow]{link.retries} frames resent[/] ({link.crc_errors} damaged, {link.timeouts} "
                          f"unanswered) in {link.requests} requests", highlight=False)
        console.print(f"[bold green]passed[/]: {n} sample{'s' if n != 1 else ''} match{'' if n != 1 else 'es'} "
                      f"{result.reports[0].reference}", highlight=False)


@click.command("flash")
@click.argument("project_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@PORT_OPT
@click.option("--tool", default=None, help="Flasher to use [default: the board file's first one installed].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def flash_command(project_dir: Path, port: str | None, tool: str | None, as_json: bool) -> None:
    """Write a built project's firmware to its board with the board file's flasher."""
    res = flash(project_dir, port=port, tool=tool)
    if as_json:
        emit_json({"tool": res.tool, "command": res.argv, "output": res.output})
    else:
        console.print(f"[bold green]flashed[/] with {res.tool}: {' '.join(res.argv)}", highlight=False)


@click.command("run")
@click.argument("models", nargs=-1, required=True, metavar="MODEL_OR_MLF...")
@click.option("--board", "-b", "board_name", required=True, help="Board name (see `aotgen boards`).")
@TEMPLATE_OPT
@TEMPLATE_DIR_OPT
@SET_OPT
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Project folder, replaced on every run [default: build/run/<board>].")
@click.option("--prefix", help="C prefix when compiling a single model file.")
@BACKEND_OPT
@WORKSPACE_OPT
@IO_IN_ARENA_OPT
@click.option("--inputs", "-i", "input_files", multiple=True, metavar="[PREFIX=]FILE.npy",
              help="An input sample (repeat; one file per model input; PREFIX= names the model when there are several).")
@click.option("--count", "-n", type=click.IntRange(min=0), default=None, show_default="3, 0 with --expected",
              help="Random input samples besides the --inputs files.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@PORT_OPT
@PLACE_OPT
@COORDINATOR_OPT
@HANDSHAKE_TIMEOUT_OPT
@RUN_TIMEOUT_OPT
@click.option("--atol", type=click.FloatRange(min=0), default=None, help="Max absolute error (integers: LSB).")
@click.option("--rtol", type=click.FloatRange(min=0), default=None, help="Max relative error (floats).")
@REFERENCE_OPT
@EXPECTED_OPT
@click.option("--save-outputs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every sample's inputs and the device's outputs as .npy (also when no reference can run).")
@click.option("--json", "as_json", is_flag=True, help="Print the test report as JSON on stdout.")
def run_command(models: tuple[str, ...], board_name: str, template: str | None, template_dir: Path | None,
                set_items: tuple[str, ...], output: Path | None, prefix: str | None, backend: str, workspace: str,
                io_in_arena: bool, input_files: tuple[str, ...], count: int | None, seed: int, port: str | None,
                places: tuple[str, ...], coordinator: str | None, handshake_timeout: float, run_timeout: float,
                atol: float | None, rtol: float | None, reference: str, expected_files: tuple[str, ...],
                save_outputs: Path | None, as_json: bool) -> None:
    """The whole loop: compile MODELs for a board, generate and build the project, flash it (real
    boards) or start QEMU, and test it against the reference interpreter. Exit 0 only on pass."""
    from ..firmware import boards
    from ..firmware import build as firmware
    from ..firmware import project

    count = sample_count(count, expected_files, 3)
    if count == 0 and not input_files:
        raise AotgenError("nothing to test: give --count > 0 or --inputs")
    _check_place_options(places, port, coordinator)
    if places and (expected_files or reference != "auto"):
        raise AotgenError("--place compares with the default reference only: drop --reference / --expected")
    if expected_files:
        check_expected_options(count, reference)
    else:
        for model in models:  # a usage error (--reference tflm for an ONNX model) before compiling
            if not Path(model).is_dir() and Path(model).suffix.lower() in (".tflite", ".onnx"):
                choose_reference(model, reference)
    board = boards.load_board(board_name)
    spec, source, overrides = choose_template(board, template, template_dir, set_items)  # before compiling
    output = output or Path("build") / "run" / board.name
    # run regenerates its project: it replaces what aotgen wrote there before, and refuses any
    # other non-empty folder (before compiling anything).
    refuse_overwrite(output, force=True)
    with tempfile.TemporaryDirectory(prefix="aotgen-run-") as tmp, progress(as_json) as say, outputs_kept(save_outputs):
        say(f"compiling for {board.cpu}")
        libs = libraries_for_board(list(models), prefix, board, Path(tmp),
                                   {"backend": backend, "workspace": workspace, "io_in_arena": io_in_arena})
        say(f"generating the {spec.name} project in {output}")
        project.generate_project(libs, board, source, output, force=True, context_overrides=overrides)
        say(f"building {output}")
        firmware.build(output)
        if places:  # flashed through each place that can, then tested there
            runs = test_on_places(output, list(places), coordinator, count=count, seed=seed,
                                  input_files=list(input_files), progress=say, handshake_timeout=handshake_timeout,
                                  run_timeout=run_timeout, atol=atol, rtol=rtol)
        else:
            # A port means a real board: it runs what was flashed last, so flash what was just built
            # (or fail saying why) before testing. Without one, emulated boards start with the new ELF.
            if port is not None or (not board.qemu_runnable and board.simulator is None):
                say(f"flashing {board.name}")
                flash(output, port=port)
            result = test_firmware(output, count=count, seed=seed, input_files=list(input_files), port=port,
                                   reference=reference, expected_files=list(expected_files),
                                   handshake_timeout=handshake_timeout, run_timeout=run_timeout, atol=atol,
                                   rtol=rtol, progress=say)
    if places:
        _finish_places(runs, save_outputs, as_json)
    else:
        _finish(result, save_outputs, as_json)


COMMANDS = [test_command, flash_command, run_command]
