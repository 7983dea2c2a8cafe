"""aotgen: ahead-of-time compile TFLite/ONNX models to C for microcontrollers, then build, flash
and verify the firmware. The public Python API (aotgen.api and the names below) and the `aotgen`
command line (aotgen.cli) are its two doors; docs/architecture.md maps the package."""

from .version import __version__  # noqa: F401

from .api import CompileResult, compile, libraries_for_board  # noqa: E402,F401
from .compiler.mlf import ModelLibrary  # noqa: E402,F401
from .compiler.mlf import load as load_library  # noqa: E402,F401
from .errors import AotgenError  # noqa: E402,F401
from .firmware.boards import load_board  # noqa: E402,F401
from .firmware.build import build  # noqa: E402,F401
from .firmware.flash import flash  # noqa: E402,F401
from .firmware.project import generate_project  # noqa: E402,F401
from .harness.runner import test_firmware  # noqa: E402,F401
