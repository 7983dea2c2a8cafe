"""The `aotgen` group and entry point: every verb module's commands added to one click group."""

from __future__ import annotations

import json
import re
import signal
import sys

import click

from rich.markup import escape

from ..errors import AotgenError, CheckFailed, ExitCode
from ..ui import err_console
from . import compile_cmd, firmware_cmd, harness_cmd, mlperf_cmd, profile_cmd


VERBOSE_FLAGS = ("-v", "--verbose")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aotgen")
@click.option("--verbose", "-v", is_flag=True,
              help="On an error, show the traceback or the tool's whole output (accepted anywhere on the line).")
def cli(verbose: bool) -> None:
    """aotgen: compile TFLite/ONNX models to C for microcontrollers, build, flash and test them.

    Exit codes: 0 ok, 1 check failed, 2 usage or input, 3 model invalid or unsupported, 4 does not
    fit, 5 tool missing, 6 device or serial, 7 a tool aotgen ran failed, 70 internal error."""


def _terminated(signum: int, _frame) -> None:
    """SIGTERM ends aotgen like Ctrl-C does: every `finally` runs (staging folders removed, QEMU
    stopped), then exit 128 + 15."""
    err_console.print("terminated")
    raise SystemExit(128 + signum)


def one_line(message: str) -> str:
    """A multi-line message (a tool's output tail) as its first line plus the line that gives the
    reason (the first that looks like an error), so CI logs keep why."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else message
    reason = next((ln for ln in lines[1:] if re.search(r"error|fatal|undefined|overflow|not found|failed", ln, re.I)),
                  lines[-1])
    return f"{lines[0].rstrip(':')}: {reason} (-v shows all {len(lines) - 1} lines)"


def _fail(message: str, code: int, kind: str, as_json: bool, verbose: bool, details: str | None = None) -> None:
    if verbose and sys.exc_info()[0] is not None:
        err_console.print_exception()
    elif verbose and details:
        err_console.print(details, highlight=False, markup=False)
    if as_json:
        click.echo(json.dumps({"error": {"message": message, "kind": kind, "exit_code": code,
                                         **({"details": details} if details and details != message else {})}}))
    # soft_wrap: one logical line, never folded at 80 columns in CI logs.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    args = sys.argv[1:]
    verbose = any(a in VERBOSE_FLAGS for a in args)  # accepted anywhere on the line
    args = [a for a in args if a not in VERBOSE_FLAGS]
    as_json = "--json" in args
    try:
        # Without standalone mode click returns a command's `ctx.exit(code)` instead of exiting.
        rv = cli.main(args=args, prog_name="aotgen", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except CheckFailed as e:  # the report (table, or JSON on stdout) says what failed; one line more
        _fail(one_line(str(e)), int(e.exit_code), type(e).__name__, False, verbose, str(e))
    except AotgenError as e:
        _fail(one_line(str(e)), int(e.exit_code), type(e).__name__, as_json, verbose, str(e))
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # usage errors: bad option, missing argument, bad value
        hint = f" (see `{e.ctx.command_path} --help`)" if getattr(e, "ctx", None) is not None else ""
        _fail(e.format_message() + hint, int(ExitCode.USAGE), "UsageError", as_json, verbose)
    except Exception as e:  # a bug: still one line (and the traceback with -v)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        _fail(f"internal error {type(e).__name__}: {first} - this is a bug in aotgen; run again with -v and report "
              "the traceback", int(ExitCode.INTERNAL), "InternalError", as_json, verbose)


for _module in (compile_cmd, firmware_cmd, harness_cmd, mlperf_cmd, profile_cmd):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
