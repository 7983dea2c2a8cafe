"""`aotgen test --place` against a real labgrid farm on loopback: a coordinator, an exporter whose
NetworkSerialPorts point at QEMUs running a built firmware (`-serial tcp:...,server=on,wait=off`,
the way a QEMU place is set up in docs/farm.md), places made with labgrid-client. No mocks. One
more QEMU has its console on a pty that the exporter publishes as a RawSerialPort, through
ser2net and RFC 2217: the path a board's USB serial port takes in a farm.

Needs the farm extra (labgrid), ser2net, gcc-arm-none-eabi and qemu-system-arm. Every process is started
here in its own session, dies with pytest (parent-death signal) and is killed by its PID at the end.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import aotgen
from aotgen.errors import AotgenError, DeviceFailure
from aotgen.firmware import boards
from aotgen.firmware import build as firmware
from aotgen.firmware import project
from aotgen.firmware import qemu
from aotgen.harness.emulated import die_with_parent
from aotgen.harness.farm import Coordinator
from aotgen.harness.on_places import test_on_places
from aotgen.harness.qemu_session import free_port
from aotgen.toolchain import kill_group

from aotgen_testlib import AOTGEN, MODELS, time_limit

HELLO = MODELS / "tflite_micro/hello_world_int8.tflite"
BIN = Path(sys.executable).parent  # labgrid-coordinator, -exporter, -client of this venv
PLACES = ("ci-an500-1", "ci-an500-2")  # QEMU's serial on TCP: NetworkSerialPort, protocol raw
RFC2217 = "ci-an500-rfc2217"  # QEMU's serial on a pty: RawSerialPort, through ser2net
TEST_LIMIT_S = 120
START_TIMEOUT_S = 30

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
    pytest.mark.skipif(shutil.which("ser2net") is None and not os.path.exists("/usr/sbin/ser2net"),
                       reason="needs ser2net (what labgrid exporters serve serial ports with)"),
]

try:
    import labgrid  # noqa: F401
except ImportError:
    if os.environ.get("CI"):  # CI installs the farm extra (ci/setup.sh): a skip there would hide its loss
        raise
    pytestmark.append(pytest.mark.skip(reason="needs the farm extra: pip install -e '.[farm]'"))


@pytest.fixture(autouse=True)
def _bounded():
    with time_limit(TEST_LIMIT_S):
        yield


def wait_for_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not listen on {port} within {START_TIMEOUT_S} s"
            time.sleep(0.1)


def exporter_yaml(serial: list[tuple[str, int]], pty: str, gone_port: int) -> str:
    """labgrid renders this as a Jinja2 template: `#` starts a line statement, `##` a comment."""
    text = "## A place per QEMU: its console UART on a TCP port.\n"
    for name, port in serial:
        text += f"{name}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {port}\n    protocol: raw\n"
    text += f"## A QEMU console on a pty, served by ser2net like a USB serial port.\n{RFC2217}:\n" \
            f"  RawSerialPort:\n    port: {pty}\n    speed: 115200\n"
    return text + ("## A board whose ST-LINK is not plugged in: published, unavailable.\n"
                   f"ci-stlink-gone:\n  NetworkSerialPort: {{host: 127.0.0.1, port: {gone_port}, protocol: raw}}\n"
                   "  USBDebugger:\n    match: {ID_SERIAL_SHORT: 'NO-SUCH-STLINK'}\n")


def pty_of(log: Path) -> str:
    """The pty QEMU put the console on ("char device redirected to /dev/pts/N")."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (m := re.search(r"redirected to (/dev/pts/\d+)", log.read_text())):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return m.group(1)


@dataclass
class Farm:
    """The running farm, and the ways the tests look at it."""

    address: str
    project: Path
    tmp: Path
    qemus: dict[str, subprocess.Popen] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def client(self, *args: str, user: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, **({"LG_USERNAME": user} if user else {}))
        proc = subprocess.run([str(BIN / "labgrid-client"), "-x", self.address, *args], capture_output=True,
                              text=True, timeout=30, env=env)
        assert not check or proc.returncode == 0, f"labgrid-client {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc

    def holders(self) -> dict[str, str]:
        """place -> user, for every acquired place (asked through aotgen's own labgrid session)."""
        with Coordinator(self.address) as c:
            return {name: p.acquired.split("/")[1] for name, p in c.session.places.items() if p.acquired}

    def who(self) -> dict[str, str]:
        """holders(), asked by labgrid-client: for use while this process has a session open
        (labgrid's gRPC client allows one at a time per process)."""
        rows = self.client("who").stdout.splitlines()[1:]
        return {cols[2]: cols[0] for cols in (r.split() for r in rows) if len(cols) >= 3}

    def groups(self) -> set[str]:
        """The resource groups the exporter has published."""
        with Coordinator(self.address) as c:
            return set(c.session.resources.get("ci-exporter", {}))

    def aotgen(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([AOTGEN, *args, "--coordinator", self.address], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, COLUMNS="160"))

    def start(self, argv: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, cwd=self.tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        self.procs.append(proc)
        return proc


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[Farm]:
    """hello_world_int8 built for mps2_an500, in two QEMUs behind two places; a third place whose
    debugger is missing."""
    tmp = tmp_path_factory.mktemp("farm")
    board = boards.load_board("mps2_an500")
    lib = aotgen.compile(HELLO, output=tmp / "mlf", target=board.cpu).library
    fw = project.generate_project([lib], board, "cmsis", tmp / "fw")
    elf = firmware.build(fw).elf
    address = f"127.0.0.1:{free_port()}"
    f = Farm(address, fw, tmp)
    try:
        coordinator = f.start([str(BIN / "labgrid-coordinator"), "-l", address], "coordinator")
        serial = []
        for name in PLACES:
            port = free_port()
            f.qemus[name] = f.start(qemu.command_line(board, elf, serial=f"tcp:127.0.0.1:{port},server=on,wait=off,"
                                                                         "nodelay=on"), f"qemu-{name}")
            serial.append((name, port))
        f.qemus[RFC2217] = f.start(qemu.command_line(board, elf, serial="pty"), f"qemu-{RFC2217}")
        (tmp / "exporter.yaml").write_text(exporter_yaml(serial, pty_of(tmp / f"qemu-{RFC2217}.log"), free_port()))
        wait_for_port(int(address.rsplit(":", 1)[1]), coordinator, "labgrid-coordinator")
        f.start([str(BIN / "labgrid-exporter"), "-c", address, "-n", "ci-exporter", "--hostname", "127.0.0.1",
                 str(tmp / "exporter.yaml")], "exporter")
        deadline = time.monotonic() + START_TIMEOUT_S
        while f.groups() != {*PLACES, RFC2217, "ci-stlink-gone"}:
            assert time.monotonic() < deadline, (tmp / "exporter.log").read_text()
            time.sleep(0.3)
        for name in (*PLACES, RFC2217, "ci-stlink-gone"):
            f.client("-p", name, "create")
            f.client("-p", name, "add-match", f"ci-exporter/{name}/*")
        yield f
    finally:
        for proc in reversed(f.procs):  # by PID, each in its own process group
            kill_group(proc)


def test_three_places_in_parallel(farm: Farm):
    """The same samples on three places at once, two over raw TCP and one through ser2net's
    RFC 2217: one report per place, the place recorded in each, equal outputs, all released."""
    places = [*PLACES, RFC2217]
    proc = farm.aotgen("test", str(farm.project), "-n", "3", *(a for p in places for a in ("--place", p)), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and [p["place"] for p in report["places"]] == places
    for r in report["places"]:
        assert r["passed"] and not r["flashed"] and r["count_unit"] == "instructions (QEMU icount)"
        assert len(r["models"][0]["samples"]) == 3
    transports = [r["transport"] for r in report["places"]]
    assert all(re.fullmatch(r"socket://127\.0\.0\.1:\d+", t) for t in transports[:2]) and transports[0] != transports[1]
    assert re.fullmatch(r"rfc2217://127\.0\.0\.1:\d+\?ign_set_control", transports[2])
    outputs = [[s["outputs"] for s in r["models"][0]["samples"]] for r in report["places"]]
    assert outputs[0] == outputs[1] == outputs[2]
    assert farm.holders() == {}


def test_run_on_a_place_this_user_holds(farm: Farm, tmp_path):
    """`aotgen run --place`: compiles and builds anew, then tests on the place (no debugger there:
    the board's firmware as it is, which the identity check finds built from the same libraries).
    The place was acquired beforehand by this host/user: aotgen uses it and leaves it acquired."""
    farm.client("-p", PLACES[0], "acquire")
    try:
        proc = subprocess.run([AOTGEN, "run", str(HELLO), "--board", "mps2_an500", "-n", "2", "-o", str(tmp_path / "fw"),
                               "--place", PLACES[0], "--coordinator", farm.address], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env=dict(os.environ, COLUMNS="160"))
        assert proc.returncode == 0, proc.stderr
        out = " ".join(proc.stdout.split())
        assert f"on place {PLACES[0]} via socket://127.0.0.1:" in out and "passed: 2 samples match" in out
        assert (tmp_path / "fw/build/firmware.elf").is_file()
        assert farm.holders() == {PLACES[0]: os.environ.get("LG_USERNAME") or getpass.getuser()}
    finally:
        farm.client("-p", PLACES[0], "release")


def test_a_place_held_by_someone_else_is_refused_at_once(farm: Farm):
    """Held by another user: refused before anything is acquired or sent, naming the holder; the
    other place of the same command is not left acquired."""
    farm.client("-p", PLACES[1], "acquire", user="ci-colleague")
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceFailure, match=rf"place {PLACES[1]} is held by {socket.gethostname()}/ci-colleague"):
            test_on_places(farm.project, list(PLACES), farm.address, count=1)
        assert time.monotonic() - t0 < 10
        assert farm.holders() == {PLACES[1]: "ci-colleague"}
    finally:
        farm.client("-p", PLACES[1], "release", user="ci-colleague")


def test_place_names_are_exact_and_the_coordinator_must_answer(farm: Farm):
    """labgrid matches place names by substring; aotgen takes only the exact name. An unreachable
    coordinator is one line, not a hang."""
    with pytest.raises(AotgenError, match=r"no place named 'ci-an500' at the labgrid coordinator .* "
                                          r"\(similar: ci-an500-1, ci-an500-2, ci-an500-rfc2217\)"):
        test_on_places(farm.project, ["ci-an500"], farm.address, count=1)
    with pytest.raises(DeviceFailure, match=r"cannot reach the labgrid coordinator at 127\.0\.0\.1:\d+ .*"
                                            r"Connection refused"):
        test_on_places(farm.project, [PLACES[0]], f"127.0.0.1:{free_port()}", count=1)
    assert farm.holders() == {}


def test_firmware_on_a_place_must_be_the_projects(farm: Farm, tmp_path):
    """A place without a flasher is tested as it is, after the identity check: a project whose
    libraries differ from what the place's board runs is refused, and the place released."""
    other = tmp_path / "fw"
    shutil.copytree(farm.project, other)
    (src,) = (other / "models/hello_world_int8/codegen/host/src").glob("*.c")
    src.write_text(src.read_text() + "\n/* changed after the build */\n")
    (run,) = test_on_places(other, [PLACES[0]], farm.address, count=1)
    assert run.result is None and isinstance(run.error, DeviceFailure)
    assert str(run.error).startswith(f"place {PLACES[0]}: the firmware was built from other libraries")
    assert farm.holders() == {}


def test_a_place_whose_debugger_is_gone(farm: Farm):
    """The exporter publishes the place's USBDebugger but no such ST-LINK is plugged in: flashing
    through it is refused with the reason, and the place released."""
    (run,) = test_on_places(farm.project, ["ci-stlink-gone"], farm.address, count=1)
    assert isinstance(run.error, DeviceFailure) and not run.flashed
    assert str(run.error).startswith("place ci-stlink-gone: its USB debugger is not available at the exporter "
                                     "127.0.0.1 (unplugged?)")
    assert farm.holders() == {}


def test_interrupt_releases_the_place(farm: Farm):
    """Ctrl-C (KeyboardInterrupt) while samples go over the line: the place is still released."""
    def interrupt(message: str) -> None:
        if "sample 3/" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        test_on_places(farm.project, [PLACES[0]], farm.address, count=50, progress=interrupt)
    assert farm.holders() == {}


def test_ctrl_c_on_parallel_places_releases_both(farm: Farm):
    """SIGINT to `aotgen test` while two places are under test: exit 130, no traceback, both released."""
    proc = subprocess.Popen([AOTGEN, "test", str(farm.project), "-n", "5000", "--place", PLACES[0], "--place", PLACES[1],
                             "--coordinator", farm.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # progress lines: the test is under way once samples go out
            if "sample 20/5000" in line:
                break
        assert set(farm.who()) == set(PLACES)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and ("interrupted" in err or "aborted" in err) and "Traceback" not in err, err
    assert farm.holders() == {}


def test_qemu_killed_mid_test_is_a_clear_error_and_the_place_is_released(farm: Farm):
    """Runs last: the board behind a place dies while samples go over the line."""
    name = PLACES[1]
    holders = []

    def kill_at_sample_20(message: str) -> None:
        if "sample 20/" in message:
            holders.append(farm.who())
            kill_group(farm.qemus[name])

    (run,) = test_on_places(farm.project, [name], farm.address, count=5000, progress=kill_at_sample_20)
    assert holders == [{name: os.environ.get("LG_USERNAME") or getpass.getuser()}]  # acquired while it ran
    assert run.result is None and isinstance(run.error, DeviceFailure)
    assert re.fullmatch(rf"place {name}: socket://127\.0\.0\.1:\d+: connection lost \(.*\) - the board, its exporter "
                        r"or the network went away", str(run.error)), run.error
    assert farm.holders() == {}
