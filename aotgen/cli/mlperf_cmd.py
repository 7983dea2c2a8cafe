"""`aotgen mlperf`: drive a project's MLPerf Tiny firmware as the MLCommons runner does."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..errors import CheckFailed
from ..harness.mlperf.driver import DEFAULT_RUN_TIMEOUT, DEFAULT_WINDOWS, MODES, MlperfReport, run_mlperf
from ..ui import console, err_console
from .options import PORT_OPT, emit_json, progress


def _fmt(values: list[float]) -> str:
    text = ", ".join(f"{v:.6g}" for v in values[:12])
    return f"[{text}{', ...' if len(values) > 12 else ''}]"


def _performance(r: MlperfReport) -> None:
    qemu = r.clock == "qemu"
    unit = "virtual us" if qemu else \
        ("simulated us (simavr)" if r.clock == "simavr" else "us")
    table = Table(title=f"MLPerf Tiny performance: {r.model_id} ({r.prefix}) on {r.board}, "
                        f"infer {r.iterations} {r.warmups}", title_justify="left")
    table.add_column("window")
    table.add_column(f"elapsed ({unit})", justify="right")
    table.add_column("instructions / inference" if qemu else "inferences / s", justify="right")
    for i, w in enumerate(r.windows, 1):
        per = w.elapsed_us / w.iterations
        table.add_row(str(i), f"{w.elapsed_us:,}", f"{per * 1000:,.0f}" if qemu else
                      (f"{w.iterations / (w.elapsed_us / 1e6):,.3f}" if w.elapsed_us else "-"))
    console.print(table)
    if qemu:
        console.print(f"median: {r.median_instructions:,.0f} instructions per inference (QEMU icount: an "
                      "instruction count, not a speed)", highlight=False)
    else:
        console.print(f"median throughput: {r.median_throughput:,.3f} inferences per second "
                      f"({r.median_us_per_inference / 1000:,.3f} ms per inference"
                      f"{', simulated time' if r.clock == 'simavr' else ''})", highlight=False)
    s = r.samples[0]
    console.print(f"results {_fmt(s.results)}; reference {_fmt(s.expected)}: "
                  + ("[green]match[/]" if s.within else f"[bold red]differ by {s.max_diff:.3g}[/]"), highlight=False)


def _accuracy(r: MlperfReport) -> None:
    table = Table(title=f"MLPerf Tiny accuracy: {r.model_id} ({r.prefix}) on {r.board}; reference {r.reference}",
                  title_justify="left")
    single = all(len(s.expected) == 1 for s in r.samples)
    for col in ("sample", "score" if single else "top-1", "reference", "max |diff|", "label", "result"):
        table.add_column(col, justify="right" if col in ("max |diff|",) else "left", overflow="fold",
                         no_wrap=col not in ("sample", "top-1", "reference"))
    for s in r.samples:
        got = f"{s.results[0]:.6g}" if single else ",".join(map(str, s.top1))
        want = f"{s.expected[0]:.6g}" if single else ",".join(map(str, s.reference_top1))
        table.add_row(s.name, got, want, f"{s.max_diff:.3g}", "" if s.label is None else str(s.label),
                      "[green]pass[/]" if s.within else "[bold red]FAIL[/]")
    console.print(table)
    agree, total = r.agreement
    what = "scores within tolerance of" if single else "top-1 agreement with"
    console.print(f"{what} the reference interpreter: {agree}/{total} ({100 * agree / total:.1f} %)", highlight=False)
    labels = r.label_score()
    if labels:
        fmt = (lambda v: "-" if v is None else f"{v:.3f}") if labels["metric"] == "AUC" else (lambda v: f"{100 * v:.1f} %")
        console.print(f"{labels['metric']} against the labels ({labels['samples']} samples): device "
                      f"{fmt(labels['device'])}, reference {fmt(labels['reference'])}", highlight=False)


@click.command("mlperf")
@click.argument("project_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--mode", type=click.Choice(MODES), default="performance", show_default=True,
              help="performance: timed windows on one sample; accuracy: every sample of --inputs.")
@click.option("--inputs", "-i", "input_files", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="The benchmark's samples: a dataset folder with y_labels.csv, or raw .bin / .npy files "
                   "[performance default: the project's test input].")
@PORT_OPT
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="Timed inferences per window [default: the runner's, e.g. kws01 70, ad01 1500].")
@click.option("--warmups", type=click.IntRange(min=0), default=None,
              help="Warm-up inferences before each window [default: the runner's].")
@click.option("--windows", type=click.IntRange(min=1), default=DEFAULT_WINDOWS, show_default=True,
              help="Timed windows; the median is reported.")
@click.option("--run-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_RUN_TIMEOUT, show_default=True,
              help="Seconds one `infer` command may take.")
@click.option("--trace", is_flag=True, help="Log every line sent and received on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def mlperf_command(project_dir: Path, mode: str, input_files: Path | None, port: str | None, iterations: int | None,
                   warmups: int | None, windows: int, run_timeout: float, trace: bool, as_json: bool) -> None:
    """Drive a project's MLPerf Tiny firmware (aotgen project --app mlperf-tiny) with the commands
    the MLCommons runner sends, and check every result against the reference interpreter. QEMU
    boards are started (and stopped) here. Exits 1 if a result is outside tolerance."""
    with progress(as_json) as say:
        report = run_mlperf(project_dir, mode, input_files, port, iterations, warmups, windows, run_timeout,
                            progress=say, trace=_trace_line if trace else None)
    if as_json:
        emit_json(report.to_json())
    else:
        (_performance if mode == "performance" else _accuracy)(report)
    if not report.passed:
        bad = sum(not s.within for s in report.samples)
        raise CheckFailed(f"{bad} of {len(report.samples)} results differ from the reference interpreter "
                          "beyond tolerance")


def _trace_line(line: str) -> None:
    err_console.print(line, style="dim", highlight=False, markup=False)


COMMANDS = [mlperf_command]
