"""Run by tests/integration/test_other_clients.py in its own process: pybpod-api 1.8.2, used
as its users use it, against the rig's emulated Bpod (FW22). Prints one JSON line per trial.
"""

import json
import os
import sys

os.environ.setdefault("PYBPOD_API_STREAM2STDOUT", "False")
from pybpodapi.protocol import Bpod, StateMachine

bpod = Bpod(serial_port=sys.argv[1])
results = []
for _ in range(3):
    sma = StateMachine(bpod)
    sma.add_state(
        state_name="A",
        state_timer=0.05,
        state_change_conditions={"Tup": "B"},
        output_actions=[("PWM1", 255), ("BNC1", 1)],
    )
    sma.add_state(
        state_name="B",
        state_timer=0.3,
        state_change_conditions={"Port1In": "A", "Tup": "exit"},
        output_actions=[],
    )
    bpod.send_state_machine(sma)
    ok = bpod.run_state_machine(sma)
    trial = bpod.session.current_trial.export()
    results.append({"ok": ok, **trial})
bpod.close()
sys.__stdout__.write(json.dumps(results) + "\n")
