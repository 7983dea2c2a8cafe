"""Per-layer instruction counts of the shipped firmware in QEMU (`aotgen profile`).

The firmware is the one `aotgen build` made, unchanged: marks between kernel calls would change
what gcc inlines (notes: +17 % on ad01). Instead a QEMU plugin (qemu_layer_counter.c) counts every
executed guest instruction against a map of the ELF made here from its symbols and debug info:
each instruction of `<prefix>_run` belongs to the call on its source line (kernels gcc inlined
there included), code the run calls (kernels in LLVM objects, helpers, libc) to the call that
called it, exception handlers and the harness to neither. The rows add up to the run.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..compiler.mlf import ModelLibrary
from ..errors import AotgenError
from ..firmware.boards import Board
from ..toolchain import run
from ..verify.compare import random_inputs
from .hosttool import build_host_tool
from .qemu_session import QemuSerial
from .session import DEFAULT_HANDSHAKE_TIMEOUT, Session

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_layer_counter.c"
CALLEE, OUTSIDE, HANDLER = -1, -2, -3
UNIT = "instructions (QEMU icount)"
EXIT_TIMEOUT_S = 30.0


@dataclass
class LayerCount:
    index: int
    kernel: str  # the kernel's C symbol, "copy" for a memcpy, "run glue" for the run's own code
    output_shape: list[int]
    macs: int
    count: float  # instructions per inference

    @property
    def macs_per_count(self) -> float | None:
        return self.macs / self.count if self.macs and self.count else None


@dataclass
class Profile:
    prefix: str
    board: str
    unit: str
    inferences: int
    layers: list[LayerCount] = field(default_factory=list)
    harness_count: float | None = None  # what the firmware's own counter measured around the run

    @property
    def total(self) -> float:
        return sum(layer.count for layer in self.layers)

    def to_json(self) -> dict:
        return {"prefix": self.prefix, "board": self.board, "unit": self.unit, "inferences": self.inferences,
                "total": self.total, "harness_count": self.harness_count,
                "macs": sum(layer.macs for layer in self.layers),
                "layers": [{**asdict(layer), "macs_per_count": layer.macs_per_count,
                            "share": layer.count / self.total if self.total else 0.0} for layer in self.layers]}


def plugin_path() -> Path:
    return build_host_tool(PLUGIN_SOURCE, "qemu_layer_counter.so", ["-shared", "-fPIC"], "the QEMU counting plugin")


def _functions(elf: Path) -> list[tuple[int, int, str]]:
    """(start, end, name) of every sized function symbol, Thumb bit cleared."""
    out = run(["arm-none-eabi-nm", "--defined-only", "-S", str(elf)], 60).stdout.decode()
    funcs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            start = int(parts[0], 16) & ~1
            funcs.append((start, start + int(parts[1], 16), parts[3]))
    return sorted(funcs)


def _frames(elf: Path, addresses: list[int]) -> dict[int, list[tuple[str, str]]]:
    """For each address, its (function, file:line) frames from debug info, innermost first."""
    text = run(["arm-none-eabi-addr2line", "-e", str(elf), "-a", "-f", "-i"], 120,
               input="".join(f"{a:#x}\n" for a in addresses).encode()).stdout.decode()
    frames: dict[int, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if re.fullmatch(r"0x[0-9a-f]+", lines[i]):
            current = frames.setdefault(int(lines[i], 16), [])
            i += 1
            continue
        current.append((lines[i], lines[i + 1] if i + 1 < len(lines) else "??:0"))
        i += 2
    return frames


def _instructions(elf: Path, start: int, end: int) -> list[int]:
    out = run(["arm-none-eabi-objdump", "-d", f"--start-address={start:#x}", f"--stop-address={end:#x}", str(elf)],
              120).stdout.decode()
    return [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\t", out, re.M)]


def _run_lines(lib: ModelLibrary) -> dict[int, int]:
    """Source line -> call index for the calls in <prefix>_run (metadata "calls", in order)."""
    source = lib.root / lib.metadata["sources"][0]
    lines = source.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"int32_t {lib.prefix}_run("))
    call_lines = []
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("}"):
            break
        if re.match(r"  (memcpy|[A-Za-z_]\w*)\(", lines[i]):
            call_lines.append(i + 1)
    calls = lib.metadata.get("calls")
    if calls is None or len(calls) != len(call_lines):
        raise AotgenError(f"{lib.root}: its metadata lists no calls matching {lib.prefix}_run; recompile it with "
                          "this aotgen to profile it")
    return {line: k for k, line in enumerate(call_lines)}


def layer_map(elf: Path, lib: ModelLibrary) -> tuple[list[tuple[int, int, int]], int, int]:
    """The plugin's map: ranges (start, end, class), the run's entry, and the number of layers
    (the calls, then the run's glue)."""
    funcs = _functions(elf)
    run_name = f"{lib.prefix}_run"
    try:
        run_start, run_end, _ = next(f for f in funcs if f[2] == run_name)
    except StopIteration:
        raise AotgenError(f"{elf}: no function {run_name}: this firmware does not contain model '{lib.prefix}'") from None
    by_line = _run_lines(lib)
    glue = len(by_line)
    starts = [f[0] for f in funcs if f[2] != run_name]
    home = _frames(elf, starts)
    model_dir = str(lib.root.resolve())
    ranges: list[tuple[int, int, int]] = []
    for start, end, name in funcs:
        if name == run_name or end <= start:
            continue
        source = home.get(start, [("", "??:0")])[-1][1]
        if name.endswith("_Handler") or name.endswith("_IRQHandler"):
            cls = HANDLER
        elif name.startswith(f"{lib.prefix}_") or source.startswith("??") or source.startswith(model_dir):
            cls = CALLEE  # the model's code, and code without debug info (libc, libgcc, LLVM objects)
        else:
            cls = OUTSIDE
        ranges.append((start, end, cls))
    pcs = _instructions(elf, run_start, run_end)
    frames = _frames(elf, pcs)
    for i, pc in enumerate(pcs):
        outer = frames.get(pc, [("", "??:0")])[-1]
        m = re.search(r":(\d+)", outer[1])
        cls = by_line.get(int(m.group(1)), glue) if outer[0] == run_name and m else glue
        ranges.append((pc, pcs[i + 1] if i + 1 < len(pcs) else run_end, cls))
    ranges.sort()
    merged: list[tuple[int, int, int]] = []
    for r in ranges:
        if merged and merged[-1][1] == r[0] and merged[-1][2] == r[2]:
            merged[-1] = (merged[-1][0], r[1], r[2])
        elif not merged or r[0] >= merged[-1][1]:  # aliases (same address, two names) once
            merged.append(r)
    return merged, run_start, glue + 1


def require_qemu(board: Board) -> None:
    if not board.qemu_runnable:
        raise AotgenError(f"profile runs the firmware in QEMU; {board.name} does not run there"
                          + (f" (its QEMU twin is {board.qemu_twin})" if board.qemu_twin else ""))


def profile_model(board: Board, elf: Path, libs: list[ModelLibrary], model: int, count: int = 3, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> Profile:
    """Run `count` inferences of model `model` in QEMU under the counting plugin."""
    say = progress or (lambda _m: None)
    require_qemu(board)
    if count < 1:
        raise AotgenError("profile needs --count of at least 1")
    lib = libs[model]
    say(f"mapping {elf.name}'s code to the layers of {lib.prefix}")
    ranges, entry, n_layers = layer_map(elf, lib)
    with tempfile.TemporaryDirectory(prefix="aotgen-profile-") as tmp:
        map_file, out_file = Path(tmp) / "layers.map", Path(tmp) / "counts.txt"
        map_file.write_text(f"ENTRY {entry:x}\n" + "".join(f"{a:x} {b:x} {c}\n" for a, b, c in ranges))
        plugin = plugin_path()
        say(f"running {count} inference(s) in QEMU {board.qemu.machine} with the counting plugin")
        harness_counts = []
        with QemuSerial(board, elf, qemu_args=["-plugin", f"{plugin},map={map_file},out={out_file}"]) as q:
            assert q.transport is not None and q.proc is not None
            session = Session(q.transport)
            session.handshake(DEFAULT_HANDSHAKE_TIMEOUT)
            for sample in random_inputs(lib.inputs, count, seed):
                _, result = session.infer(model, lib, sample)
                harness_counts.append(result.count)
            q.close_transport()
            q.proc.send_signal(signal.SIGTERM)  # a clean exit, so the plugin writes its counts
            try:
                q.proc.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise AotgenError(f"QEMU did not exit within {EXIT_TIMEOUT_S:g} s of SIGTERM") from None
        if not out_file.is_file():
            raise AotgenError(f"the counting plugin wrote no counts{q.stderr_tail()}")
        counts = dict(line.rsplit(" ", 1) for line in out_file.read_text().splitlines())
    runs = int(counts["runs"])
    if runs != count:
        raise AotgenError(f"the plugin saw {runs} runs of {lib.prefix}_run for {count} inferences")
    calls = lib.metadata["calls"]
    layers = [LayerCount(k, c["kernel"] or "copy", c["output"]["shape"], c["macs"],
                         int(counts[f"layer {k}"]) / runs) for k, c in enumerate(calls)]
    layers.append(LayerCount(len(calls), "run glue", [], 0, int(counts[f"layer {n_layers - 1}"]) / runs))
    return Profile(lib.prefix, board.name, UNIT, runs, layers, sum(harness_counts) / len(harness_counts))
