"""One module per group of verbs (west-style); importing this package registers them on `cli`."""

from . import compile_cmd  # noqa: F401
from . import boards_cmd  # noqa: F401
from . import harness_cmd  # noqa: F401
