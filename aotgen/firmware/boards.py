"""Boards as data: one YAML file per board in boards/, loaded and validated into dataclasses.

Templates, the firmware build, the fit check and QEMU all read the same Board object, so adding a
board is adding a YAML file. Extra board folders can be listed in $AOTGEN_BOARDS_PATH
(os.pathsep-separated); they are searched before the built-in one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import AotgenError
from ..compiler.targets import CPUS as TARGET_CPUS

# Symlinks to the repository's top-level boards/ and project_templates/, so wheels carry them too.
BUILTIN_BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "project_templates"

CPUS = {name for name in TARGET_CPUS if name != "host"}  # what a board's `cpu:` may say
AVR_CPUS = {"atmega2560"}
FPUS = {"none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16", "auto"}
FLOAT_ABIS = {"soft", "softfp", "hard"}
# The cmsis template drives the first four; the others name the console of boards only other
# templates (Arduino core, Zephyr) support.
CONSOLE_DRIVERS = {"cmsdk_uart", "stm32_usart_v1", "stm32_usart_v2", "stm32_lpuart",
                   "avr_usart", "sam_uart", "stellaris_uart", "usb_cdc"}
CYCLE_COUNTERS = {"dwt", "systick_icount", "avr_timer1"}
SIMULATORS = {"simavr"}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


class BoardFileError(AotgenError):
    """A board YAML file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class RegisterSetup:
    """`*reg |= mask`, done in order before the console UART is configured (clocks, pins)."""

    reg: int
    mask: int
    what: str = ""


@dataclass(frozen=True)
class Console:
    peripheral: str
    driver: str
    base: int
    baud: int
    clock_hz: int
    pins: dict[str, Any] = field(default_factory=dict)
    gpio_base: int | None = None
    setup: tuple[RegisterSetup, ...] = ()


@dataclass(frozen=True)
class TimestampPin:
    """The GPIO the MLPerf Tiny energy monitor watches (the firmware pulses it low for each
    timestamp): bit `mask` of register `reg` drives it; `setup` runs first (clock, pin mode)."""

    reg: int
    mask: int
    what: str = ""
    setup: tuple[RegisterSetup, ...] = ()


@dataclass(frozen=True)
class FlashMethod:
    tool: str
    command: tuple[str, ...]  # placeholders: {elf}, {bin}, {hex}
    note: str = ""  # shown beside the command (e.g. a one-time setup step)

    def argv(self, elf: Path) -> list[str]:
        paths = {"elf": elf, "bin": elf.with_suffix(".bin"), "hex": elf.with_suffix(".hex"),
                 "port": "{port}"}  # filled in when flashing (aotgen flash --port)
        return [a.format(**paths) for a in self.command]


@dataclass(frozen=True)
class QemuConfig:
    machine: str
    sysclk_hz: int  # SysTick clock in QEMU's model: ticks -> instructions under -icount shift=0
    cpu: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimulatorConfig:
    """A cycle-accurate simulator that runs the firmware (simavr for AVR boards)."""

    name: str
    mcu: str  # the simulator's name for the part
    clock_hz: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    vendor: str
    mcu: str
    family: str
    cpu: str
    fpu: str
    float_abi: str
    clock_hz: int
    reset_clock_hz: int
    cycle_counter: str
    flash: MemoryRegion
    ram: MemoryRegion
    console: Console
    templates: dict[str, dict[str, Any]]
    dtcm: MemoryRegion | None = None
    flash_methods: tuple[FlashMethod, ...] = ()
    usb_vid: int | None = None
    usb_pid: int | None = None
    qemu: QemuConfig | None = None
    qemu_twin: str | None = None
    simulator: SimulatorConfig | None = None
    timestamp_pin: TimestampPin | None = None
    source: Path | None = None

    @property
    def is_avr(self) -> bool:
        return self.cpu in AVR_CPUS

    @property
    def runnable_here(self) -> str | None:
        """What runs this board's firmware on this machine: 'qemu', 'simavr' or None."""
        return "qemu" if self.qemu is not None else (self.simulator.name if self.simulator else None)

    @property
    def has_fpu(self) -> bool:
        return self.fpu != "none" and self.float_abi != "soft"

    @property
    def qemu_runnable(self) -> bool:
        return self.qemu is not None

    @property
    def gcc_flags(self) -> list[str]:
        """Code generation flags for arm-none-eabi-gcc (avr-gcc for AVR boards; also used when linking)."""
        if self.is_avr:
            return [f"-mmcu={self.cpu}"]
        flags = [f"-mcpu={self.cpu}", "-mthumb"]
        if self.fpu == "none":
            flags.append("-mfloat-abi=soft")
        else:
            flags += [f"-mfpu={self.fpu}", f"-mfloat-abi={self.float_abi}"]
        return flags

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "vendor": self.vendor,
            "mcu": self.mcu,
            "cpu": self.cpu,
            "fpu": self.fpu,
            "float_abi": self.float_abi,
            "clock_hz": self.clock_hz,
            "flash": {"origin": self.flash.origin, "size": self.flash.size},
            "ram": {"origin": self.ram.origin, "size": self.ram.size},
            "dtcm": {"origin": self.dtcm.origin, "size": self.dtcm.size} if self.dtcm else None,
            "console": {"peripheral": self.console.peripheral, "base": self.console.base,
                        "baud": self.console.baud, "pins": self.console.pins},
            "templates": sorted(self.templates),
            "flash_methods": [m.tool for m in self.flash_methods],
            "usb": {"vid": self.usb_vid, "pid": self.usb_pid} if self.usb_vid is not None else None,
            "qemu_runnable": self.qemu_runnable,
            "qemu": {"machine": self.qemu.machine, "sysclk_hz": self.qemu.sysclk_hz} if self.qemu else None,
            "qemu_twin": self.qemu_twin,
            "timestamp_pin": {"reg": self.timestamp_pin.reg, "mask": self.timestamp_pin.mask,
                              "what": self.timestamp_pin.what} if self.timestamp_pin else None,
            "simulator": {"name": self.simulator.name, "mcu": self.simulator.mcu,
                          "clock_hz": self.simulator.clock_hz} if self.simulator else None,
        }


def board_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("AOTGEN_BOARDS_PATH", "").split(os.pathsep) if p]
    return [*extra, BUILTIN_BOARDS_DIR]


def board_files() -> dict[str, Path]:
    """Board name -> YAML file; earlier folders in board_dirs() win."""
    found: dict[str, Path] = {}
    for d in reversed(board_dirs()):
        if d.is_dir():
            found.update({f.stem: f for f in sorted(d.glob("*.yaml"))})
    return dict(sorted(found.items()))


def list_boards() -> list[Board]:
    return [load_board_file(f) for f in board_files().values()]


def resolve_target(name: str) -> str:
    """The CPU name for `--target`: a CPU passes through, a board name gives its board's CPU."""
    if name in TARGET_CPUS:
        return name
    by_board = {b.name: b.cpu for b in list_boards()}
    if by_board.get(name) in TARGET_CPUS:
        return by_board[name]
    return name  # unknown: the compiler names the CPUs and boards in its error


def load_board(name: str) -> Board:
    files = board_files()
    if name not in files:
        known = ", ".join(files) or "(none)"
        raise AotgenError(f"unknown board '{name}'; known boards: {known}")
    return load_board_file(files[name])


def load_board_file(path: Path) -> Board:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise BoardFileError(f"{path}: invalid YAML: {e}") from None
    except OSError as e:
        raise BoardFileError(f"{path}: cannot read: {e.strerror}") from None
    if not isinstance(data, dict):
        raise BoardFileError(f"{path}: expected a mapping of board fields at the top level")
    board = _Reader(path, data).board()
    if board.name != path.stem:
        raise BoardFileError(f"{path}: field 'name' is '{board.name}' but the file is {path.name}")
    return board


def parse_size(value: Any) -> int:
    """An int, or a string like '320KiB' / '1MiB'."""
    if isinstance(value, bool):
        raise ValueError("expected a size")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"expected a size like 4096, '64KiB' or '1MiB', got {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


class _Reader:
    """Pulls typed fields out of the YAML mapping; every error names the file and the field."""

    _MISSING = object()

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    def fail(self, where: str, msg: str) -> BoardFileError:
        return BoardFileError(f"{self.path}: field '{where}': {msg}")

    def get(self, where: str, default: Any = _MISSING) -> Any:
        node: Any = self.data
        for part in where.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is self._MISSING:
                    raise self.fail(where, "missing")
                return default
            node = node[part]
        return node

    def str_(self, where: str, default: Any = _MISSING, choices: set[str] | None = None) -> Any:
        v = self.get(where, default)
        if v is None and default is None:
            return None
        if not isinstance(v, str) or not v:
            raise self.fail(where, f"expected a non-empty string, got {v!r}")
        if choices and v not in choices:
            raise self.fail(where, f"'{v}' is not one of {', '.join(sorted(choices))}")
        return v

    def int_(self, where: str, default: Any = _MISSING) -> Any:
        v = self.get(where, default)
        if v is None and default is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise self.fail(where, f"expected a non-negative integer, got {v!r}")
        return v

    def region(self, where: str, required: bool = True) -> MemoryRegion | None:
        node = self.get(where, self._MISSING if required else None)
        if node is None:
            return None
        if not isinstance(node, dict):
            raise self.fail(where, "expected {origin: ..., size: ...}")
        origin = self.int_(f"{where}.origin")
        try:
            size = parse_size(self.get(f"{where}.size"))
        except ValueError as e:
            raise self.fail(f"{where}.size", str(e)) from None
        if size == 0:
            raise self.fail(f"{where}.size", "must be greater than 0")
        return MemoryRegion(origin, size)

    def setup_list(self, where: str) -> tuple[RegisterSetup, ...]:
        setup = []
        for i, item in enumerate(self.get(where, []) or []):
            if not isinstance(item, dict):
                raise self.fail(f"{where}[{i}]", "expected {reg: ..., mask: ...}")
            sub = _Reader(self.path, item)
            try:
                setup.append(RegisterSetup(sub.int_("reg"), sub.int_("mask"), str(item.get("what", ""))))
            except BoardFileError as e:
                raise self.fail(f"{where}[{i}]", str(e).split(": ", 1)[1]) from None
        return tuple(setup)

    def timestamp_pin(self) -> TimestampPin | None:
        if self.get("timestamp_pin", None) is None:
            return None
        pin = TimestampPin(self.int_("timestamp_pin.reg"), self.int_("timestamp_pin.mask"),
                           str(self.get("timestamp_pin.what", "")), self.setup_list("timestamp_pin.setup"))
        if pin.mask == 0 or pin.mask > 0xFFFFFFFF:
            raise self.fail("timestamp_pin.mask", "expected the pin's bit(s) in a 32-bit register")
        return pin

    def console(self) -> Console:
        setup = self.setup_list("console.setup")
        pins = self.get("console.pins", {}) or {}
        if not isinstance(pins, dict):
            raise self.fail("console.pins", "expected a mapping like {tx: PD8, rx: PD9, af: 7}")
        driver = self.str_("console.driver", choices=CONSOLE_DRIVERS)
        gpio_base = self.int_("console.gpio_base", None)
        if driver.startswith("stm32") and (gpio_base is None or not {"tx", "rx", "af"} <= set(pins)):
            raise self.fail("console", "STM32 consoles need gpio_base and pins {tx, rx, af}")
        for pin in ("tx", "rx"):
            if pin in pins and not re.fullmatch(r"P[A-K]\d{1,2}", str(pins[pin])):
                raise self.fail(f"console.pins.{pin}", f"expected a pin like PD8, got {pins[pin]!r}")
        return Console(
            peripheral=self.str_("console.peripheral"),
            driver=driver,
            base=self.int_("console.base"),
            baud=self.int_("console.baud"),
            clock_hz=self.int_("console.clock_hz"),
            pins=dict(pins),
            gpio_base=gpio_base,
            setup=tuple(setup),
        )

    def templates(self) -> dict[str, dict[str, Any]]:
        node = self.get("templates")
        if not isinstance(node, dict) or not node:
            raise self.fail("templates", "expected a mapping of template name to its settings")
        out = {}
        for name, settings in node.items():
            if settings is not None and not isinstance(settings, dict):
                raise self.fail(f"templates.{name}", "expected a mapping (or {})")
            out[str(name)] = dict(settings or {})
        return out

    def flash_methods(self) -> tuple[FlashMethod, ...]:
        node = self.get("flash", []) or []
        if not isinstance(node, list):
            raise self.fail("flash", "expected a list of {tool, command}")
        methods = []
        for i, item in enumerate(node):
            cmd = item.get("command") if isinstance(item, dict) else None
            if not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd) or not cmd:
                raise self.fail(f"flash[{i}].command", "expected a list of strings")
            sub = _Reader(self.path, item)
            methods.append(FlashMethod(tool=sub.str_("tool"), command=tuple(cmd), note=sub.str_("note", None) or ""))
        return tuple(methods)

    def qemu(self) -> QemuConfig | None:
        if self.get("qemu", None) is None:
            return None
        extra = self.get("qemu.extra_args", []) or []
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise self.fail("qemu.extra_args", "expected a list of strings")
        return QemuConfig(
            machine=self.str_("qemu.machine"),
            sysclk_hz=self.int_("qemu.sysclk_hz"),
            cpu=self.str_("qemu.cpu", None),
            extra_args=tuple(extra),
        )

    def simulator(self) -> SimulatorConfig | None:
        if self.get("simulator", None) is None:
            return None
        return SimulatorConfig(name=self.str_("simulator.name", choices=SIMULATORS),
                               mcu=self.str_("simulator.mcu"), clock_hz=self.int_("simulator.clock_hz"))

    def board(self) -> Board:
        flash, ram = self.region("memory.flash"), self.region("memory.ram")
        dtcm = self.region("memory.dtcm", required=False)
        if dtcm and not (ram.origin <= dtcm.origin and dtcm.end <= ram.end):
            raise self.fail("memory.dtcm", "must lie inside memory.ram (ram is the total)")
        if flash.origin < ram.end and ram.origin < flash.end:
            raise self.fail("memory", "flash and ram overlap")
        usb = self.get("usb", None)
        board = Board(
            name=self.str_("name"),
            description=self.str_("description"),
            vendor=self.str_("vendor"),
            mcu=self.str_("mcu"),
            family=self.str_("family"),
            cpu=self.str_("cpu", choices=CPUS),
            fpu=self.str_("fpu", choices=FPUS),
            float_abi=self.str_("float_abi", choices=FLOAT_ABIS),
            clock_hz=self.int_("clock_hz"),
            reset_clock_hz=self.int_("reset_clock_hz"),
            cycle_counter=self.str_("cycle_counter", choices=CYCLE_COUNTERS),
            flash=flash,
            ram=ram,
            dtcm=dtcm,
            console=self.console(),
            templates=self.templates(),
            flash_methods=self.flash_methods(),
            usb_vid=self.int_("usb.vid") if usb is not None else None,
            usb_pid=self.int_("usb.pid") if usb is not None else None,
            qemu=self.qemu(),
            qemu_twin=self.str_("qemu_twin", None),
            simulator=self.simulator(),
            timestamp_pin=self.timestamp_pin(),
            source=self.path,
        )
        if board.fpu == "none" and board.float_abi != "soft":
            raise self.fail("float_abi", "must be 'soft' when fpu is 'none'")
        if board.cycle_counter == "systick_icount" and board.qemu is None:
            raise self.fail("cycle_counter", "systick_icount only makes sense on a QEMU board")
        if board.simulator and board.qemu:
            raise self.fail("simulator", "a board runs in QEMU or in a simulator, not both")
        if (board.cycle_counter == "avr_timer1") != board.is_avr:
            raise self.fail("cycle_counter", "avr_timer1 is the counter of AVR boards, and only of them")
        return board


def template_names() -> list[str]:
    """Templates that exist in project_templates/ (a board may name others for future use)."""
    if not TEMPLATES_DIR.is_dir():
        return []
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if (p / "cookiecutter.json").is_file())
