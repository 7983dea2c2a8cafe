"""The `aotgen` group and entry point: every verb module's commands added to one click group."""

from __future__ import annotations

import signal
import sys

import click

from ..errors import AotgenError
from ..ui import err_console
from . import compile_cmd, firmware_cmd, harness_cmd, profile_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aotgen")
def cli() -> None:
    """aotgen: compile TFLite/ONNX models to C for microcontrollers, build, flash and test them."""


def _terminated(signum: int, _frame) -> None:
    """SIGTERM ends aotgen like Ctrl-C does: every `finally` runs (staging folders removed, QEMU
    stopped), then exit 128 + 15."""
    err_console.print("terminated")
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # Without standalone mode click returns a command's `ctx.exit(code)` instead of exiting.
        rv = cli.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except AotgenError as e:
        # soft_wrap: one logical line, never folded at 80 columns in CI logs.
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


for _module in (compile_cmd, firmware_cmd, harness_cmd, profile_cmd):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
