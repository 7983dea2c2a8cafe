"""The memory planner on random call graphs: no two tensors live at the same call overlap, every
placement is aligned, and the arena is never below the lower bound."""

import random

import pytest

from aotgen.compiler.graph import Graph, KernelCall, TensorKind
from aotgen.compiler.plan import lifetimes, plan_memory


def random_graph(seed: int) -> Graph:
    rnd = random.Random(seed)
    g = Graph()
    x = g.add("x", (rnd.randint(1, 64),), "int8", TensorKind.INPUT)
    x.io_index = 0
    live = [x.id]
    for i in range(rnd.randint(1, 25)):
        args = rnd.sample(live, k=min(len(live), rnd.randint(1, 2)))
        out = g.add(f"t{i}", (rnd.randint(1, 300),), rnd.choice(["int8", "int32", "float32"]), TensorKind.INTERMEDIATE)
        extra = []
        if rnd.random() < 0.3:
            extra = [g.add(f"s{i}", (rnd.randint(1, 100),), "int32", TensorKind.SCRATCH).id]
        g.calls.append(KernelCall(f"k{i}", args + [out.id] + extra, [True] * len(args) + [False] * (1 + len(extra))))
        live.append(out.id)
    g.tensors[live[-1]].kind = TensorKind.OUTPUT
    g.tensors[live[-1]].io_index = 0
    return g


@pytest.mark.parametrize("io_in_arena", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_plan_is_valid(seed, io_in_arena):
    g = random_graph(seed)
    plan = plan_memory(g, alignment=16, io_in_arena=io_in_arena)
    spans = lifetimes(g, tuple(TensorKind) if io_in_arena else (TensorKind.INTERMEDIATE, TensorKind.SCRATCH))
    assert set(plan.placements) == set(spans)
    ps = list(plan.placements.values())
    for p in ps:
        assert p.offset % 16 == 0
        assert p.offset + p.size <= plan.arena_bytes
    for i, a in enumerate(ps):
        for b in ps[i + 1 :]:
            if a.first <= b.last and b.first <= a.last:  # live at a common call
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    assert plan.arena_bytes >= plan.lower_bound


def test_io_lives_across_the_whole_run():
    g = random_graph(3)
    spans = lifetimes(g, tuple(TensorKind))
    end = len(g.calls) - 1
    for t in g.tensors:
        if t.kind == TensorKind.INPUT and t.id in spans:
            assert spans[t.id][0] == 0
        if t.kind == TensorKind.OUTPUT:
            assert spans[t.id][1] == end
