"""User-facing errors: the CLI prints these as one line and exits with the code of their class
(README, "Exit codes"), never a traceback (`-v` shows one for bug reports)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # a check or test ran and the outputs do not match the reference
    USAGE = 2  # bad command line, option value, input file or output location
    MODEL = 3  # the model file is invalid, or uses what aotgen cannot compile
    DOES_NOT_FIT = 4  # the firmware does not fit the board's flash or RAM
    TOOL_MISSING = 5  # a program or SDK aotgen needs is not installed
    DEVICE = 6  # the board, serial link or emulator failed or timed out
    TOOL_FAILED = 7  # a program aotgen ran (compiler, build, flasher, reference interpreter) failed
    INTERNAL = 70  # a bug in aotgen (EX_SOFTWARE)


class AotgenError(Exception):
    """An error caused by user input or the environment (bad model, missing tool, ...)."""

    exit_code = ExitCode.USAGE


class UnsupportedModelError(AotgenError):
    """The model is invalid or uses something aotgen cannot compile (operator, quantization)."""

    exit_code = ExitCode.MODEL


class ToolNotFoundError(AotgenError):
    """An external program is missing; the message names the Debian package to install."""

    exit_code = ExitCode.TOOL_MISSING

    def __init__(self, tool: str, apt_package: str):
        super().__init__(f"'{tool}' not found on PATH: install it with `apt-get install {apt_package}`")
        self.tool = tool
        self.apt_package = apt_package


class MissingSetupError(AotgenError):
    """Something to install or point at that is not a Debian package (a Zephyr tree, an Arduino core)."""

    exit_code = ExitCode.TOOL_MISSING


class ToolFailedError(AotgenError):
    """A program aotgen ran failed; the message carries the reason it gave."""

    exit_code = ExitCode.TOOL_FAILED


class DeviceFailure(AotgenError):
    """The board, the serial link or the emulator failed or did not answer in time."""

    exit_code = ExitCode.DEVICE


class CheckFailed(AotgenError):
    """A check ran and its verdict is fail."""

    exit_code = ExitCode.CHECK_FAILED


class NoReferenceError(AotgenError):
    """No reference could run (its interpreter is missing or refuses the model), so nothing was
    judged; the outputs computed before are kept (`groups`, as verify.compare.save_samples takes
    them) for the caller to save. The exit code is the cause's."""

    def __init__(self, cause: AotgenError, groups: list):
        super().__init__(str(cause))
        self.exit_code = cause.exit_code
        self.groups = groups
