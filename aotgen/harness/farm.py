"""Board farms: reach a board through a labgrid place (docs/farm.md).

A place is one more way to get a serial line (plus, where its exporter publishes one, a flasher):
its NetworkSerialPort becomes a pyserial URL (`socket://` for `protocol: raw`, `rfc2217://` for
the ser2net that exporters start for USB/raw serial ports) and the ordinary session, identity
check and report run over it, exactly as on a local port.

labgrid is an optional extra (`pip install aotgen[farm]`) and imported only here, when a place is
used. labgrid allows one client session per process, so one `Coordinator` holds every place of a
command; its asyncio loop runs on a thread of its own, so the coordinator stream keeps being served
while the tests run and a release still works after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AotgenError, DeviceFailure, MissingSetupError
from ..firmware.boards import Board
from ..firmware.flash import FLASH_TIMEOUT_S
from ..toolchain import run

COORDINATOR_ENV = "LG_COORDINATOR"  # the variable labgrid-client reads too
DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's default
RPC_TIMEOUT_S = 15.0
FLASHER_CLASSES = ("NetworkUSBDebugger",)  # what an exported USBDebugger (an ST-LINK, a J-Link) becomes


@dataclass
class Place:
    """One acquired place as aotgen uses it."""

    name: str
    url: str  # its console, as a pyserial URL
    flasher: Any = None  # the labgrid ResourceEntry of its USB debugger, if it has one
    acquired_here: bool = False  # acquired by this command, so released by it
    host: str = ""  # the exporter host of the console


def _labgrid():
    """labgrid's client module, or one line saying how to install it."""
    try:
        from labgrid.remote import client
    except ImportError:
        raise MissingSetupError("--place needs labgrid: install aotgen's farm extra "
                                "(`pip install 'aotgen[farm]'`)") from None
    return client


class _LogTail(logging.Handler):
    """labgrid reports connection failures through the root logger; keep them for our error
    messages instead of letting them reach the terminal."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Coordinator:
    """`with Coordinator(address) as farm:` a labgrid client session; on the way out (errors and
    Ctrl-C included) every place this command acquired is released."""

    def __init__(self, address: str | None = None, timeout: float = RPC_TIMEOUT_S):
        self.address = address or os.environ.get(COORDINATOR_ENV) or DEFAULT_COORDINATOR
        self.timeout = timeout
        self.places: list[Place] = []
        self._client = _labgrid()
        self._log = _LogTail()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.session = None

    # -- the session and its loop ----------------------------------------------------------

    def __enter__(self) -> "Coordinator":
        logging.getLogger().addHandler(self._log)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        from labgrid.util.proxy import proxymanager  # HOST[:PORT] as labgrid-client reads it

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labgrid-client", daemon=True)
        self._thread.start()
        address = proxymanager.get_grpc_address(self.address, default_port=20408)

        async def start():
            # grpc's aio channel must be made on the loop that serves it.
            session = self._client.ClientSession(address, self._loop)
            await session.start()
            return session

        try:
            self.session = self._call(start(), f"connecting to the labgrid coordinator at {self.address}")
        except self._client.Error:
            raise DeviceFailure(f"cannot reach the labgrid coordinator at {self.address}{self._why()}: is "
                                f"labgrid-coordinator running there? (--coordinator HOST:PORT or "
                                f"${COORDINATOR_ENV})") from None

    def _why(self) -> str:
        return f" ({self._log.lines[-1]})" if self._log.lines else ""

    def _call(self, coro: Coroutine, what: str, timeout: float | None = None):
        """Run `coro` on the session's loop and wait for it, at most `timeout` seconds."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout or self.timeout), self._loop)
        try:
            return future.result()
        except (asyncio.TimeoutError, TimeoutError):
            raise DeviceFailure(f"{what}: no answer from the labgrid coordinator at {self.address} within "
                                f"{timeout or self.timeout:g} s") from None
        except BaseException:
            future.cancel()
            raise

    def _rpc(self, name: str, request, what: str) -> None:
        """One coordinator call (AcquirePlace, ReleasePlace), then a sync so the session's view of
        the places includes its effect."""
        import grpc

        async def call():
            await getattr(self.session.stub, name)(request)
            await self.session.sync_with_coordinator()

        try:
            self._call(call(), what)
        except grpc.aio.AioRpcError as e:
            raise DeviceFailure(f"{what}: {e.details()}") from None

    def close(self) -> None:
        try:
            self.release_all()
        finally:
            if self.session is not None:
                try:
                    self._call(self._stop_session(), "closing the labgrid session", timeout=5.0)
                except (AotgenError, Exception):  # the coordinator may be gone already
                    pass
                self.session = None
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=5.0)
                if not self._loop.is_running():
                    self._loop.close()
                self._loop = None
            logging.getLogger().removeHandler(self._log)

    async def _stop_session(self) -> None:
        await self.session.stop()
        await self.session.close()

    # -- places ----------------------------------------------------------------------------

    @property
    def me(self) -> str:
        """host/user, as labgrid records who holds a place (LG_HOSTNAME / LG_USERNAME honoured)."""
        return f"{self.session.gethostname()}/{self.session.getuser()}"

    def _place(self, name: str):
        """The place called exactly `name` (labgrid itself matches substrings: lab-1 would find lab-10)."""
        places = self.session.places
        if name in places:
            return places[name]
        near = sorted(n for n in places if name in n or n in name)
        listed = ", ".join(near or sorted(places)) or "none"
        raise AotgenError(f"no place named '{name}' at the labgrid coordinator {self.address} "
                          f"({'similar' if near else 'places there'}: {listed})")

    def acquire(self, names: list[str], progress: Callable[[str], None] | None = None) -> list[Place]:
        """Acquire every place of `names` (unless this host/user holds it already) and find its
        console and flasher. All or none: if one is held by someone else, or lacks a console,
        the ones acquired here are released and the error names the place (and its holder)."""
        say = progress or (lambda _m: None)
        if len(set(names)) != len(names):
            raise AotgenError(f"--place given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        places = [self._place(n) for n in names]
        for place in places:  # refuse at once, before acquiring anything
            self._check_free(place)
        current = names[0]
        try:
            for place in places:
                current = place.name
                ours = self._holds(place)
                if not ours:
                    say(f"acquiring place {place.name}")
                    self.session.check_matches(place)
                    # Recorded before asking, so an interrupt after the request still releases it.
                    self.places.append(Place(place.name, "", acquired_here=True))
                    self._rpc("AcquirePlace", self._pb().AcquirePlaceRequest(placename=place.name),
                              f"acquiring place {place.name}")
                else:
                    self.places.append(Place(place.name, ""))
                self._describe(self.places[-1])
        except self._client.Error as e:
            self.release_all()
            raise AotgenError(f"place {current}: {e}") from None
        except BaseException:
            self.release_all()
            raise
        return list(self.places)

    def _pb(self):
        from labgrid.remote.generated import labgrid_coordinator_pb2

        return labgrid_coordinator_pb2

    def _holds(self, place) -> bool:
        return place.acquired == self.me or (bool(place.acquired) and self.me in place.allowed)

    def _check_free(self, place) -> None:
        if place.acquired and not self._holds(place):
            raise DeviceFailure(f"place {place.name} is held by {place.acquired} (since "
                                f"{_when(place.changed)}); aotgen uses only free places or places this "
                                f"host/user ({self.me}) already holds")

    def _describe(self, link: Place) -> None:
        """Fill in `link` from the place's acquired resources: its console URL and its flasher."""
        place = self.session.places[link.name]
        if place.acquired != self.me and self.me not in place.allowed:  # another client won the race
            raise DeviceFailure(f"place {place.name} is held by {place.acquired}")
        resources = self.session.get_target_resources(place)
        serial = [(n, r) for (n, cls), r in resources.items() if cls == "NetworkSerialPort"]
        if not serial:
            found = ", ".join(sorted(cls for _, cls in resources)) or "no resources"
            raise AotgenError(f"place {place.name} has no serial port (a NetworkSerialPort, or a USBSerialPort or "
                              f"RawSerialPort its exporter publishes); it has {found}")
        if len(serial) > 1:
            serial = [(n, r) for n, r in serial if n == "console"] or serial
            if len(serial) > 1:
                raise AotgenError(f"place {place.name} has several serial ports ({', '.join(n for n, _ in serial)}): "
                                  "name the board's console 'console' (labgrid-client add-named-match ... console)")
        name, port = serial[0]
        if not port.avail:
            raise DeviceFailure(f"place {place.name}: its serial port {name} is not available at the exporter "
                                "(board unplugged, or its exporter stopped?)")
        link.url, link.host = console_url(port.args), port.args.get("host", "")
        link.flasher = next((r for (_, cls), r in resources.items() if cls in FLASHER_CLASSES), None)

    def release(self, link: Place) -> None:
        if not link.acquired_here:
            return
        place = self.session.places.get(link.name) if self.session is not None else None
        if place is not None and place.acquired and place.acquired != self.me:
            return  # not ours (any more): never release someone else's place
        try:
            self._rpc("ReleasePlace", self._pb().ReleasePlaceRequest(placename=link.name),
                      f"releasing place {link.name}")
        except DeviceFailure as e:
            if "not acquired" not in str(e):
                raise
        link.acquired_here = False

    def release_all(self) -> None:
        """Release what this command acquired; tries every place even if one fails."""
        errors = []
        while self.places:
            link = self.places.pop()
            try:
                self.release(link)
            except (AotgenError, Exception) as e:
                errors.append(f"{link.name}: {e}")
        if errors:
            raise DeviceFailure("could not release " + "; ".join(errors) +
                                " - release by hand with `labgrid-client -p PLACE release`")

    # -- flashing --------------------------------------------------------------------------

    def flash(self, link: Place, board: Board, elf: Path) -> str:
        """Write `elf` through the place's debugger, labgrid's way (as its OpenOCDDriver does): the
        ELF is copied to the exporter host and the board file's openocd command runs there over
        SSH, told the debugger's USB path; with aotgen's timeout. Returns openocd's output."""
        from labgrid import Target
        from labgrid.resource.remote import RemotePlace, RemotePlaceManager
        from labgrid.util.managedfile import ManagedFile

        if not link.flasher.avail:
            raise DeviceFailure(f"its USB debugger is not available at the exporter {link.flasher.args.get('host')} "
                                "(unplugged?); --no-flash tests the board as it is")
        method = next((m for m in board.flash_methods if m.tool == "openocd"), None)
        if method is None:
            raise AotgenError(f"it has a USB debugger, which aotgen drives with openocd, but board {board.name} "
                              "lists no openocd flasher in its board file")
        if any(k in a for a in method.command for k in ("{bin}", "{hex}", "{port}")):
            raise AotgenError(f"board {board.name}: its openocd command uses more than {{elf}}, which is all "
                              "aotgen copies to the exporter")
        manager = RemotePlaceManager.get()
        manager.session, manager.loop = self.session, self._loop
        target = Target(link.name)
        try:
            RemotePlace(target, name=link.name)
            debugger = target.get_resource(FLASHER_CLASSES[0])
            copy = ManagedFile(str(elf), debugger)
            copy.sync_to_resource()
            remote_elf = copy.get_remote_path()
        except Exception as e:  # labgrid's own errors: SSH to the exporter, a resource that went away
            raise DeviceFailure(f"copying {elf.name} to the exporter {link.flasher.args.get('host')} failed ({e}); "
                                "aotgen reaches exporters over SSH, as labgrid does") from None
        finally:
            target.cleanup()
        argv = [method.command[0], "-c", f'adapter usb location "{debugger.path}"',
                *(a.format(elf=remote_elf) for a in method.command[1:])]
        proc = run(debugger.wrap_command(argv), FLASH_TIMEOUT_S,
                   what=f"openocd on {debugger.host} (flashing {board.name})")
        return (proc.stdout + proc.stderr).decode(errors="replace")


def console_url(args: dict) -> str:
    """A NetworkSerialPort's parameters as a pyserial URL."""
    host, port, protocol = args.get("host"), args.get("port"), args.get("protocol", "rfc2217")
    if not host or not port:
        raise DeviceFailure(f"the place's serial port has no host/port yet ({args}): is its exporter running?")
    if protocol == "raw":
        return f"socket://{host}:{port}"
    if protocol == "rfc2217":
        # ser2net's RFC 2217 server refuses modem-control changes; labgrid's pyserial ignores them.
        return f"rfc2217://{host}:{port}?ign_set_control"
    raise AotgenError(f"serial protocol '{protocol}' of a NetworkSerialPort is not supported (raw or rfc2217)")


def _when(timestamp: float | None) -> str:
    import datetime

    if not timestamp:
        return "?"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
