"""``rig export-nwb``: a real simulated session with imaging, contexts, an operator's edit
and a hand drop, written as NWB, validated by pynwb and read back against its files."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")

from rig.bus import Bus, TrialCompleted  # noqa: E402
from rig.cli import main  # noqa: E402
from rig.export.nwb import ExportError, build_nwbfile, export_session  # noqa: E402
from rig.fsm.model import StateMachine  # noqa: E402
from rig.schema.hardware import HardwareConfig  # noqa: E402
from rig.schema.loader import load_model  # noqa: E402
from rig.schema.protocol import Protocol  # noqa: E402
from rig.session.operator import Inbox, check_command  # noqa: E402
from rig.session.session import SessionRequest, run_session  # noqa: E402
from rig.subjects.registry import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 trials through four contexts on the simulated rig with the fake ScanImage; at
    trial 40 the operator lengthens the delay and gives a drop by hand; then `rig align`."""
    data = tmp_path_factory.mktemp("data")
    with Registry(data) as registry:
        registry.add_subject("JH160", sex="F", birth_date=dt.date(2026, 6, 1),
                             genotype="CaMKIIa-tTA;GCaMP6s")  # fmt: skip
    inbox = Inbox()

    def operator(bus: Bus) -> None:
        def on_trial(done: TrialCompleted) -> None:
            if done.record["trial"] == 40:
                inbox.put(check_command("set", {"path": "epochs.delay_s", "value": 1.0}))
                inbox.put(check_command("drop", {"side": "left"}))

        bus.subscribe(TrialCompleted, on_trial)

    request = SessionRequest(
        load_model(ROOT / "tests/data/quick_contexts.yaml", Protocol),
        load_model(ROOT / "hardware_configs/sim-imaging.yaml", HardwareConfig),
        "JH160", 100, 5, data, operator="kim", weight_g=23.4, notes="first imaging day",
        fov="FOV2",
    )  # fmt: skip
    folder = run_session(request, observers=[operator], inbox=inbox).session_dir
    assert main(["align", str(folder), str(folder / "scope")]) == 0
    return folder


@pytest.fixture(scope="module")
def nwb(session: Path) -> Any:
    out = session.parent / "JH160.nwb"
    assert main(["export-nwb", str(session), "-o", str(out)]) == 0
    io = pynwb.NWBHDF5IO(str(out), "r")
    yield io.read()
    io.close()


def test_the_file_passes_pynwb_validation(session: Path, nwb: Any) -> None:
    assert pynwb.validate(path=str(session.parent / "JH160.nwb")) == []


def test_subject_devices_and_session_metadata(session: Path, nwb: Any) -> None:
    meta = json.loads((session / "session.json").read_text())
    assert nwb.subject.subject_id == "JH160" and nwb.subject.sex == "F"
    assert nwb.subject.genotype == "CaMKIIa-tTA;GCaMP6s" and nwb.subject.weight == "23.4 g"
    assert nwb.subject.date_of_birth.date() == dt.date(2026, 6, 1)
    assert nwb.session_start_time == dt.datetime.fromisoformat(meta["start_time"])
    assert list(nwb.experimenter) == ["kim"] and nwb.notes == "first imaging day"
    assert nwb.session_description.endswith("; imaging field of view FOV2")
    assert set(nwb.devices) == {"sim-imaging", "valve_left", "valve_right"}
    assert "0.04 s -> 3.4 uL" in nwb.devices["valve_left"].description
    assert json.loads(nwb.scratch["session_json"].data) == meta


def test_trials_round_trip(session: Path, nwb: Any) -> None:
    records = _lines(session / "trials.jsonl")
    trials = nwb.trials.to_dataframe()
    assert len(trials) == len(records) == 100
    for record, (_, row) in zip(records, trials.iterrows(), strict=True):
        assert row.start_time == record["t_start"] and row.stop_time == record["t_end"]
        for key in ("trial", "context", "context_label", "prime", "instructed", "outcome",
                    "early_lick", "free_drop", "free_drop_given", "sm_hash", "frames"):  # fmt: skip
            assert row[key] == record[key], key
        assert row.stage == (record["stage"] or "")
        for column, key in (("go_cue_time", "t_go"), ("sample_time", "t_sample"),
                            ("first_lick_latency", "first_lick_latency_s")):  # fmt: skip
            value = record[key]
            assert math.isnan(row[column]) if value is None else row[column] == value, key
        assert row.reward_volume == record["reward_ul"]
        assert list(row.valve_times) == [v["t"] for v in record["valves"]]
        assert list(row.valve_reasons) == [v["reason"] for v in record["valves"]]
    assert trials.early_lick.sum() == sum(r["early_lick"] for r in records) > 0


def test_licks_round_trip(session: Path, nwb: Any) -> None:
    licks = nwb.events["licks"].to_dataframe()
    for record in _lines(session / "trials.jsonl"):
        mine = licks[licks.trial == record["trial"]]
        expected = [(side, on, off) for side, on, off in record["licks"]]
        got = [
            (side, on, None if math.isnan(d) else round(on + d, 4))
            for side, on, d in zip(mine.side, mine.timestamp, mine.duration, strict=True)
        ]
        assert got == expected, record["trial"]


def test_every_device_event_is_there_in_order(session: Path, nwb: Any) -> None:
    events = _lines(session / "events.jsonl")
    table = nwb.events["device_events"]
    kinds, names = (
        dict(zip(m["value"][:], m["meaning"][:], strict=True))
        for m in (table.meanings_tables[f"{c}_meanings"] for c in ("kind", "event_name"))
    )
    assert len(table) == len(events)
    assert np.array_equal(table["timestamp"][:], [e["t"] for e in events])
    assert [kinds[k] for k in table["kind"][:]] == [e["kind"] for e in events]
    assert [names[k] for k in table["event_name"][:]] == [e["name"] for e in events]
    hand = [e for e in events if e["trial"] == 0]
    assert hand and list(table["trial"][:]).count(0) == len(hand)  # the hand drop


def test_contexts_round_trip_as_epochs_and_switches(session: Path, nwb: Any) -> None:
    meta = json.loads((session / "session.json").read_text())
    epochs = nwb.epochs.to_dataframe()
    assert [tags[0] for tags in epochs.tags] == ["T1", "T2", "T1'", "A1"]
    records = _lines(session / "trials.jsonl")
    by_label = {r["context_label"]: r for r in records}  # the last trial of each label
    assert list(epochs.stop_time) == [by_label[t[0]]["t_end"] for t in epochs.tags]
    switches = nwb.processing["behavior"]["context_switches"].to_dataframe()
    assert list(switches["to"]) == [s["to"] for s in meta["context_switches"]]
    assert list(switches.trials_in_step) == [30, 30, 20]


def test_each_trial_s_machine_is_rebuilt_and_matches_its_hash(session: Path, nwb: Any) -> None:
    machines = nwb.processing["behavior"]["state_machines"].to_dataframe()
    records = _lines(session / "trials.jsonl")
    assert set(machines.sm_hash) == {r["sm_hash"] for r in records}
    for _, row in machines.iterrows():
        assert StateMachine.model_validate_json(row.definition).content_hash == row.sm_hash
        assert all(records[t - 1]["sm_hash"] == row.sm_hash for t in row.trials)
    # the operator's delay edit made new machines: their delay timer is 1.0 s
    late = {r["sm_hash"] for r in records if r["trial"] > 45 and r["context"] == "T1"}
    for sm_hash in late:
        definition = json.loads(machines.set_index("sm_hash").definition[sm_hash])
        delay = next(s for s in definition["states"] if s["name"] == "DelayPeriod")
        assert delay["timer_s"] == 1.0
    actions = nwb.processing["behavior"]["operator_actions"].to_dataframe()
    assert list(actions.action) == ["set", "drop"]


def test_trial_frames_round_trip(session: Path, nwb: Any) -> None:
    import pandas

    rows = pandas.read_csv(session / "trial_frames.csv")
    table = nwb.processing["ophys"]["trial_frames"].to_dataframe()
    assert len(table) == len(rows) > 0
    keys = ["trial", "epoch", "plane", "movie_frame", "frame_number", "file", "page", "status"]
    ok = rows[rows.status == "ok"].index[0]
    assert list(table.iloc[ok][keys]) == list(rows.iloc[ok][keys])
    fit = json.loads((session / "trial_frames.json").read_text())["clock_fit"]
    assert f"{fit['a']:.9f}" in nwb.processing["ophys"]["trial_frames"].description


def test_a_broken_session_is_refused_naming_the_file(tmp_path: Path, session: Path) -> None:
    broken = tmp_path / "m" / "20260101-000000"
    broken.mkdir(parents=True)
    meta = json.loads((session / "session.json").read_text())
    del meta["start_time"]
    (broken / "session.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match=r"20260101-000000/session.json: no 'start_time'"):
        build_nwbfile(broken)
    meta["start_time"] = "2026-01-01T00:00:00+00:00"
    (broken / "session.json").write_text(json.dumps(meta))
    (broken / "trials.jsonl").write_text('{"trial": 1}\n')
    assert main(["export-nwb", str(broken)]) == 1
    with pytest.raises(ExportError, match=r"trials.jsonl:1: no field 'context'"):
        export_session(broken)
