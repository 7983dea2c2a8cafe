"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""


class AotgenError(Exception):
    """An error caused by user input or the environment (bad model, missing tool, ...)."""

    exit_code = 1


class UnsupportedModelError(AotgenError):
    """The model uses something aotgen cannot compile (operator, quantization scheme)."""


class ToolNotFoundError(AotgenError):
    """An external program is missing; the message names the Debian package to install."""

    def __init__(self, tool: str, apt_package: str):
        super().__init__(f"'{tool}' not found on PATH: install it with `apt-get install {apt_package}`")
        self.tool = tool
        self.apt_package = apt_package
