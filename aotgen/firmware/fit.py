"""Does a project fit its board? Checked from the project's metadata alone (aotgen_project.json),
before anything is compiled: at `project` (a project that cannot fit is not written) and again
at `build` (the project may have been edited). The linker's own overflow is build.py's."""

from __future__ import annotations

from ..errors import AotgenError, ExitCode
from .project_info import ProjectInfo


class FitError(AotgenError):
    """The firmware does not fit the board; the message names the region and the bytes over."""

    exit_code = ExitCode.DOES_NOT_FIT

    def __init__(self, message: str, region: str, over_bytes: int):
        super().__init__(message)
        self.region = region
        self.over_bytes = over_bytes


# The serial harness's own RAM (aotgen_harness.c): the RX frame (4 + HARNESS_MAX_PAYLOAD + 2),
# the 64-byte TX buffer, a few words of state and the 16-byte firmware identity (const data is
# in RAM on AVR).
HARNESS_RAM_BYTES = 4 + 256 + 2 + 64 + 16 + 16
# AVR: `__flash` data is read with LPM's 16-bit address, so the weights must lie in the first
# 64 KiB of flash, which they share with the vector table and the core's own progmem tables.
AVR_FLASH_DATA_LIMIT = 64 * 1024 - 1024


def _tensor_bytes(t: dict) -> int:
    import numpy as np

    n = 1
    for d in t["shape"]:
        n *= int(d)
    return n * np.dtype(t["dtype"]).itemsize


def ram_estimate(project: ProjectInfo) -> dict[str, int]:
    """RAM the firmware needs besides its code's own variables, from the project's metadata:
    arenas, I/O buffers, the harness's buffers, the stack and the template's runtime."""
    models = project.data["models"]
    static = sum(m["workspace_bytes"] for m in models if m["workspace"] != "user")
    user = max((m["workspace_bytes"] for m in models if m["workspace"] == "user"), default=0)
    io = sum(_tensor_bytes(t) for m in models if not m.get("io_in_arena") for t in m["inputs"] + m["outputs"])
    return {"model arenas": static + user, "I/O buffers": io, "harness buffers": HARNESS_RAM_BYTES,
            "stack": int(project.context.get("stack_bytes", 0) or 0),
            "runtime": int(project.data.get("build", {}).get("ram_overhead_bytes", 0)),
            "MLPerf sample buffer": int(project.app.get("raw_bytes", 0))}  # mlperf-tiny app: one raw sample


def check_fit_before_link(project: ProjectInfo) -> None:
    """The models must fit before anything is compiled: weights in flash; arenas, I/O buffers,
    harness buffers, stack and the template's runtime in RAM."""
    board, b = project.board_name, project.board()
    weights = sum(m["constant_bytes"] for m in project.data["models"])
    check_region("FLASH", "the model weights", weights, project.flash_limit, board)
    if b.is_avr:
        check_region("FLASH", "the model weights (AVR __flash data must lie in the first 64 KiB of flash, "
                     "less 1 KiB for vectors and the core's tables)", weights, AVR_FLASH_DATA_LIMIT, board)
    parts = ram_estimate(project)
    limit, where = project.ram_limit, ""
    if project.build_system == "west" and b.dtcm is not None and b.dtcm.size < b.ram.size:
        # Zephyr's devicetree keeps the DTCM apart from sram0, where everything goes by default;
        # only the --workspace user arena moves to the DTCM (when it fits there).
        limit, where = b.ram.size - b.dtcm.size, " in Zephyr's sram0 (the DTCM is a separate region)"
        user = max((m["workspace_bytes"] for m in project.data["models"] if m["workspace"] == "user"), default=0)
        if user and parts["model arenas"] + 1024 <= b.dtcm.size:
            parts["model arenas"] -= user
    detail = " + ".join(f"{k} {v}" for k, v in parts.items() if v)
    check_region("RAM", f"the firmware's data ({detail}, estimated){where}", sum(parts.values()), limit, board)


def check_region(region: str, what: str, used: int, limit: int, board: str) -> None:
    if used > limit:
        raise FitError(
            f"does not fit on {board}: {what} need {used} bytes of {region.lower()}, the board has "
            f"{limit} ({used - limit} bytes over)",
            region, used - limit,
        )
