"""CPUs aotgen compiles for: TVM target dicts and the matching gcc flags."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AotgenError


@dataclass(frozen=True)
class Cpu:
    name: str
    triple: str  # LLVM target triple
    mcpu: str
    float_abi: str  # "hard" or "soft"
    gcc_flags: tuple[str, ...]


CPUS = {
    c.name: c
    for c in [
        Cpu("host", "", "", "hard", ()),
        Cpu("cortex-m0", "thumbv6m-none-eabi", "cortex-m0", "soft", ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")),
        Cpu("cortex-m3", "thumbv7m-none-eabi", "cortex-m3", "soft", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")),
        Cpu("cortex-m4", "thumbv7em-none-eabihf", "cortex-m4", "hard",
            ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
        Cpu("cortex-m7", "thumbv7em-none-eabihf", "cortex-m7", "hard",
            ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")),
        Cpu("cortex-m33", "thumbv8m.main-none-eabihf", "cortex-m33", "hard",
            ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")),
        Cpu("cortex-m55", "thumbv8.1m.main-none-eabihf", "cortex-m55", "hard",
            ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard")),
    ]
}


def get_cpu(name: str) -> Cpu:
    try:
        return CPUS[name]
    except KeyError:
        raise AotgenError(f"unknown target '{name}'; known: {', '.join(CPUS)}") from None


def tvm_target(cpu: Cpu, backend: str) -> dict:
    if backend == "c":
        return {"kind": "c", "mcpu": cpu.mcpu} if cpu.mcpu else {"kind": "c"}
    if backend == "llvm":
        if not cpu.triple:
            return {"kind": "llvm"}
        return {"kind": "llvm", "mtriple": cpu.triple, "mcpu": cpu.mcpu, "mfloat-abi": cpu.float_abi}
    raise AotgenError(f"unknown backend '{backend}'; known: c, llvm")
