"""What a firmware was built from, in 16 bytes: a digest of the aotgen version and each model
library's code and data (header, C sources, objects), in the harness's model order. The
generated model table carries it (aotgen_firmware_id) and the READY banner announces it, so
`aotgen test` can refuse firmware that was not built from the project's libraries (stale or
foreign firmware) instead of testing it."""

from __future__ import annotations

import hashlib

from ..compiler.mlf import ModelLibrary
from ..version import __version__

SIZE = 16


def library_digest(lib: ModelLibrary) -> bytes:
    h = hashlib.sha256(lib.prefix.encode())
    for path in [lib.header, *lib.sources, *lib.objects]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.digest()


def firmware_identity(libs: list[ModelLibrary]) -> bytes:
    h = hashlib.sha256(f"aotgen {__version__}".encode())
    for lib in libs:
        h.update(library_digest(lib))
    return h.digest()[:SIZE]
