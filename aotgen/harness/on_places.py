"""`aotgen test --place`: a built project's firmware tested on one or several labgrid places, the
same samples on each, in parallel, one report per place (docs/farm.md).

Per place: acquire (harness/farm.py), flash through the place where it has a debugger (else the
firmware on the board is tested as it is: the session's identity check refuses firmware not built
from the project), then the ordinary `test_firmware` over the place's serial URL; every place
acquired here is released at the end, errors and Ctrl-C included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import AotgenError
from .farm import Coordinator, Place
from .runner import FirmwareTest, make_samples, project_libraries, test_firmware
from .transport import LinkClosed


@dataclass
class PlaceRun:
    """One place's outcome: its report, or the error that stopped it."""

    place: str
    result: FirmwareTest | None = None
    error: AotgenError | None = None
    flashed: bool = False

    def to_json(self) -> dict:
        if self.result is not None:
            return dict(self.result.to_json(), flashed=self.flashed)
        assert self.error is not None
        return {"place": self.place, "passed": False, "flashed": self.flashed,
                "error": {"message": str(self.error), "kind": type(self.error).__name__,
                          "exit_code": int(self.error.exit_code)}}


def _on_place(e: AotgenError, place: str) -> AotgenError:
    """The same error, its message naming the place."""
    hint = " - the board, its exporter or the network went away" if isinstance(e, LinkClosed) else ""
    e.args = (f"place {place}: {e}{hint}",)
    return e


def test_on_places(project_dir: str | Path, places: list[str], coordinator: str | None = None, *,
                   count: int = 3, seed: int = 0, input_files: list[str | Path] | None = None,
                   flash: bool = True, progress: Callable[[str], None] | None = None,
                   **options) -> list[PlaceRun]:
    """Test the firmware of `project_dir` on each of `places` (names, exactly as the coordinator
    knows them). `options` are test_firmware's (model_files, atol, rtol, timeouts, trace)."""
    say = progress or (lambda _m: None)
    board, elf, libs = project_libraries(project_dir)
    samples = make_samples(libs, count, seed, input_files)  # the same samples on every place
    with Coordinator(coordinator) as farm:
        links = farm.acquire(places, say)
        runs = [PlaceRun(link.name) for link in links]
        for link, run in zip(links, runs):  # one at a time: flashing runs on the exporters over SSH
            if flash and link.flasher is not None:
                say(f"{link.name}: flashing {elf.name} through the place's debugger")
                try:
                    if not elf.is_file():
                        raise AotgenError(f"{elf}: no firmware to flash yet; build it with `aotgen build {project_dir}`")
                    farm.flash(link, board, elf)
                    run.flashed = True
                except AotgenError as e:
                    run.error = _on_place(e, link.name)

        def test(link: Place, run: PlaceRun) -> None:
            try:
                result = test_firmware(project_dir, libs, samples, port=link.url,
                                       progress=lambda m: say(f"{link.name}: {m}"), **options)
                result.place = link.name
                run.result = result
            except AotgenError as e:
                run.error = _on_place(e, link.name)
            except Exception as e:  # a bug: handed to the main thread, which raises it
                run.error = e  # type: ignore[assignment]

        todo = [(link, run) for link, run in zip(links, runs) if run.error is None]
        if len(todo) == 1:
            test(*todo[0])
        else:
            # Daemon threads: on Ctrl-C the main thread releases the places and exits without
            # waiting for a worker blocked on a board.
            threads = [threading.Thread(target=test, args=job, name=f"place-{job[0].name}", daemon=True)
                       for job in todo]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)  # short waits, so Ctrl-C reaches the main thread
    for run in runs:
        if run.error is not None and not isinstance(run.error, AotgenError):
            raise run.error
    return runs


test_on_places.__test__ = False  # not a pytest test, despite the name
