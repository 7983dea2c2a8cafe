"""CPUs aotgen compiles for: TVM target dicts and the matching gcc flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AotgenError


@dataclass(frozen=True)
class Cpu:
    name: str
    triple: str  # LLVM target triple
    mcpu: str
    float_abi: str  # "hard" or "soft"
    gcc_flags: tuple[str, ...]
    llvm_mattr: tuple[str, ...] = ()  # to match gcc's -mfpu where LLVM's CPU default differs
    flash_qualifier: str = ""  # address space weights must live in (AVR: __flash)


CPUS = {
    c.name: c
    for c in [
        Cpu("host", "", "", "hard", ()),
        Cpu("cortex-m0", "thumbv6m-none-eabi", "cortex-m0", "soft", ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")),
        Cpu("cortex-m3", "thumbv7m-none-eabi", "cortex-m3", "soft", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")),
        Cpu("cortex-m4", "thumbv7em-none-eabihf", "cortex-m4", "hard",
            ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
        Cpu("cortex-m7", "thumbv7em-none-eabihf", "cortex-m7", "hard",
            ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), ("-fp64",)),
        Cpu("cortex-m33", "thumbv8m.main-none-eabihf", "cortex-m33", "hard",
            ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")),
        Cpu("cortex-m55", "thumbv8.1m.main-none-eabihf", "cortex-m55", "hard",
            ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard")),
        Cpu("cortex-m0plus", "thumbv6m-none-eabi", "cortex-m0plus", "soft",
            ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft")),
        # RV32IMC (e.g. SiFive E31-class cores), soft float, for riscv64-unknown-elf-gcc's rv32 multilib.
        Cpu("riscv32", "riscv32-unknown-none-elf", "generic-rv32", "soft", ("-march=rv32imc", "-mabi=ilp32"),
            ("+m", "+c")),
        # 8-bit AVR (Arduino Mega 2560): no FPU, 16-bit int, weights read from flash.
        Cpu("atmega2560", "avr", "atmega2560", "soft", ("-mmcu=atmega2560",), flash_qualifier="__flash"),
    ]
}


def get_cpu(name: str) -> Cpu:
    """A CPU by name (aotgen.api resolves a board name to its CPU first: firmware.boards.resolve_target)."""
    if name in CPUS:
        return CPUS[name]
    raise AotgenError(f"unknown target '{name}'; CPUs: {', '.join(CPUS)}; or a board name (see `aotgen boards`)")


def tvm_target(cpu: Cpu, backend: str) -> dict:
    if backend == "c":
        return {"kind": "c", "mcpu": cpu.mcpu} if cpu.mcpu else {"kind": "c"}
    if backend == "llvm":
        if not cpu.triple:
            return {"kind": "llvm"}
        target = {"kind": "llvm", "mtriple": cpu.triple, "mcpu": cpu.mcpu, "mfloat-abi": cpu.float_abi,
                  **({"mabi": "ilp32"} if cpu.triple.startswith("riscv32") else {}),
                  # SIMD register width: 128-bit MVE on the M55, 32-bit DSP lanes on other M cores
                  # (TVM otherwise guesses 128 and says so on every compile).
                  **({"vector-width": 128 if cpu.name == "cortex-m55" else 32} if cpu.triple.startswith("thumb") else {}),
                  # -O2, not TVM's default -O3; llvm_build.py adds the unrolling options per kernel.
                  "opt-level": 2}
        if cpu.llvm_mattr:
            target["mattr"] = list(cpu.llvm_mattr)
        return target
    raise AotgenError(f"unknown backend '{backend}'; known: c, llvm")


def object_float_abi(path: str) -> str:
    """"hard" if an Arm ELF object passes floats in VFP registers, else "soft" (readelf -A)."""
    from ..toolchain import run

    attrs = run(["arm-none-eabi-readelf", "-A", str(path)], 60).stdout.decode(errors="replace")
    return "hard" if "Tag_ABI_VFP_args: VFP registers" in attrs else "soft"


def check_object_abi(objects: list, float_abi: str, what: str) -> None:
    """Refuse, before linking, objects whose float ABI differs from the firmware's."""
    for obj in objects:
        found = object_float_abi(obj)
        if found != float_abi:
            raise AotgenError(
                f"{what}: {obj} uses the {found}-float ABI but the firmware is built for {float_abi}-float; "
                "recompile the model with --target matching the board's CPU"
            )
