"""Run by tests/integration/test_other_clients.py in its own process: bpod-core 0.1.0a15,
used as its own test suite uses it (its port list patched to show the emulator's ptys as
a Teensy's), against the rig's emulated Bpod (FW23). Prints one JSON line.
"""

import json
import sys

import bpod_core.com
from serial.tools.list_ports_common import ListPortInfo

PORTS = sys.argv[1:]


def emulator_ports() -> list[ListPortInfo]:
    infos = []
    for path in PORTS:
        info = ListPortInfo(path)
        info.vid, info.pid, info.serial_number = 0x16C0, 0x048B, "EMULATOR"
        infos.append(info)
    return infos


bpod_core.com.comports = emulator_ports
from bpod_core.bpod import Bpod  # noqa: E402
from bpod_core.fsm import StateMachine  # noqa: E402

bpod = Bpod(port=PORTS[0])
fsm = StateMachine()
fsm.add_state("A", timer=0.05, transitions={"Tup": "B"}, actions={"PWM1": 255, "TTLOut1": 1})
fsm.add_state("B", timer=0.3, transitions={"Port1_High": "A", "Tup": ">exit"})
bpod.run(fsm)
bpod.run(fsm)  # queued while the first runs
bpod.wait()
data = bpod.get_data()
bpod.close()
rows = data.to_dicts()
print(
    json.dumps(
        {
            "firmware": list(bpod.version.firmware),
            "machine": bpod.version.machine,
            "rows": [
                {k: (str(v) if k == data.columns[0] else v) for k, v in row.items()} for row in rows
            ],
            "columns": data.columns,
        }
    )
)
