"""Static memory plan: every intermediate and scratch tensor gets an offset in one arena.

Lifetimes come from the call order (a tensor lives from the first call that touches it to the
last); tensors are placed greedily, largest first, at the lowest aligned offset that does not
overlap any already placed tensor whose lifetime overlaps. Views share their source's tensor id,
so they need no placement of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import Graph, TensorKind

ARENA_KINDS = (TensorKind.INTERMEDIATE, TensorKind.SCRATCH)
IO_KINDS = (TensorKind.INPUT, TensorKind.OUTPUT)


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


@dataclass
class Placement:
    tensor: int
    offset: int
    size: int
    first: int  # index of the first call using it
    last: int  # index of the last call using it


@dataclass
class MemoryPlan:
    placements: dict[int, Placement]
    arena_bytes: int
    alignment: int
    lower_bound: int  # largest total of arena tensors live at any one call (no plan can beat it)

    def offset(self, tensor_id: int) -> int:
        return self.placements[tensor_id].offset

    def report(self, graph: Graph) -> str:
        lines = [
            f"arena: {self.arena_bytes} bytes (alignment {self.alignment}); "
            f"lower bound (largest live set): {self.lower_bound} bytes",
            f"{'offset':>8} {'size':>8} {'calls':>9}  tensor",
        ]
        for p in sorted(self.placements.values(), key=lambda p: (p.offset, p.first)):
            t = graph.tensors[p.tensor]
            lines.append(
                f"{p.offset:>8} {p.size:>8} {p.first:>4}-{p.last:<4}  {t.name} "
                f"{t.dtype}{list(t.shape)} ({t.kind.value})"
            )
        return "\n".join(lines) + "\n"


def lifetimes(graph: Graph, kinds=ARENA_KINDS) -> dict[int, tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for i, call in enumerate(graph.calls):
        for tid in call.args:
            if graph.tensors[tid].kind in kinds:
                first, _ = spans.get(tid, (i, i))
                spans[tid] = (first, i)
    end = max(len(graph.calls) - 1, 0)
    for tid, (first, last) in spans.items():
        kind = graph.tensors[tid].kind
        # Inputs are written before the first call; outputs are read after the last one.
        if kind == TensorKind.INPUT:
            spans[tid] = (0, last)
        elif kind == TensorKind.OUTPUT:
            spans[tid] = (first, end)
    return spans


def _place(order: list[int], spans: dict[int, tuple[int, int]], size: dict[int, int], alignment: int) -> list[Placement]:
    placed: list[Placement] = []
    for tid in order:
        first, last = spans[tid]
        busy = sorted(
            (p.offset, p.offset + align_up(p.size, alignment))
            for p in placed
            if p.first <= last and first <= p.last
        )
        offset = 0
        for start, end in busy:
            if offset + size[tid] <= start:
                break
            offset = max(offset, end)
        placed.append(Placement(tid, offset, size[tid], first, last))
    return placed


def plan_memory(graph: Graph, alignment: int = 16, io_in_arena: bool = False) -> MemoryPlan:
    """Place arena tensors; with `io_in_arena` the model's inputs and outputs live there too."""
    spans = lifetimes(graph, ARENA_KINDS + IO_KINDS if io_in_arena else ARENA_KINDS)
    size = {t: graph.tensors[t].nbytes for t in spans}
    # Greedy placement is order-sensitive; a few classic orders, keep the smallest arena.
    orders = [
        sorted(spans, key=lambda t: (-size[t], spans[t][0], t)),  # largest first
        sorted(spans, key=lambda t: (spans[t][0], -size[t], t)),  # first needed first
        sorted(spans, key=lambda t: (-size[t] * (spans[t][1] - spans[t][0] + 1), t)),  # biggest area first
    ]
    placed = min((_place(order, spans, size, alignment) for order in orders),
                 key=lambda ps: max((p.offset + p.size for p in ps), default=0))
    arena = max((align_up(p.offset + p.size, alignment) for p in placed), default=0)
    live = [0] * len(graph.calls)
    for tid, (first, last) in spans.items():
        for i in range(first, last + 1):
            live[i] += graph.tensors[tid].nbytes
    return MemoryPlan({p.tensor: p for p in placed}, arena, alignment, max(live, default=0))
