"""Run the MLCommons MLPerf Tiny runner (benchmark/runner/main.py) against a serial port that has
no USB id, such as QEMU's `-serial pty`: the runner finds its DUT by USB VID:PID, so this presents
the port with the id of the DUT entry in the runner's devices yaml.
Usage: python run_runner_on_pty.py /dev/pts/N [main.py options...]  (run it in benchmark/runner)"""
import runpy
import sys

import serial.tools.list_ports as list_ports
from serial.tools.list_ports_common import ListPortInfo

PORT = sys.argv[1]
VID, PID = 0x0483, 0x374B  # the `l4r5zi` DUT of devices_kws_ic_vww.yaml / devices_ad.yaml


def comports(*_args, **_kwargs):
    info = ListPortInfo(PORT)
    info.vid, info.pid = VID, PID
    return [info]


list_ports.comports = comports
try:  # no USB power monitors either (pyusb without a backend would fail)
    import usb.core
    usb.core.find = lambda *a, **k: []
except ImportError:
    pass
sys.path.insert(0, ".")  # the runner's own modules
sys.argv = ["main.py", *sys.argv[2:]]
runpy.run_path("main.py", run_name="__main__")
