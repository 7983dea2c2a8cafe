"""aotgen: ahead-of-time compile TFLite/ONNX models to C for microcontrollers, then build, flash
and verify the firmware."""

__version__ = "0.1.0"

from .compiler import CompileResult, compile  # noqa: E402,F401
from .errors import AotgenError  # noqa: E402,F401
from .mlf import ModelLibrary  # noqa: E402,F401
from .mlf import load as load_library  # noqa: E402,F401
