"""The launcher's day card, in words, from the controller's suggestion
(:meth:`rig.session.today.Suggestion.to_json`): what the subject should run and why, how it
got there, its last session (end weight and water), today's sessions and water; beside the
weight box, the last weighing and the baseline."""

from __future__ import annotations

from typing import Any

from gui.feedback import ENDED_BY_WORDS


def when(iso: object) -> str:
    """``2026-03-02 09:00`` from an ISO time."""
    return str(iso)[:16].replace("T", " ")


def _pct(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.0f} %"


def _grams(value: object) -> str:
    return "not entered" if not isinstance(value, int | float) else f"{value:g} g"


def last_session_line(last: dict[str, Any] | None) -> str:
    if last is None:
        return "Last session: none yet, a new subject"
    how = ENDED_BY_WORDS.get(str(last.get("ended_by")), "")
    text = (
        f"Last session ({when(last['start_time'])}, {last.get('protocol') or '-'}): "
        f"{last.get('trials') if last.get('trials') is not None else '-'} trials, "
        f"{_pct(last.get('percent_correct'))} correct, ended in {last.get('end_label') or '-'} "
        f"({last.get('status')}{', ' + how if how else ''}); "
        f"end weight {_grams(last.get('weight_after_g'))}; "
        f"water {float(last.get('water_ul') or 0.0):.0f} uL"
    )
    held = last.get("held_by")
    if held:  # another process still writes it: running elsewhere, not to be resumed
        text += (
            f"; that session is running elsewhere (pid {held['pid']} on {held['host']} "
            f"since {when(held['since'])})"
        )
    return text


def today_line(s: dict[str, Any]) -> str:
    target = float(s.get("water_target_ul") or 0.0)
    today = s.get("today") or []
    if not today:
        return f"Today: no session yet; water target {target:.0f} uL"
    earlier = float(s.get("earlier_water_today_ul") or 0.0)
    return (
        f"Today already ({len(today)}): {earlier_sessions(today)}; "
        f"water so far {earlier:.0f} of {target:.0f} uL"
    )


def earlier_sessions(today: list[dict[str, Any]]) -> str:
    """Each of today's sessions: its time, trials, water and status."""
    return "; ".join(
        f"{when(t['start_time'])[11:]} {t['trials']} trials, {float(t['water_ul']):.0f} uL "
        f"({t['status']})"
        for t in today
    )


def card_text(suggested: dict[str, Any], choice: str = "") -> str:
    """The card for the subject's own suggestion; ``choice`` the operator's other protocol
    and step, when overriding (the suggestion stays on the card above it)."""
    head = f"Suggested: {suggested['protocol_file']}, {suggested['where']}"
    lines = [
        head + (", curriculum completed" if suggested["curriculum_completed"] else ""),
        f"Rule: {suggested['rule']}",
        f"How it got there: {suggested['arrival']}",
        last_session_line(suggested["last_session"]),
        today_line(suggested),
    ]
    if choice:
        lines.append(f"Your choice instead: {choice} (give the reason below)")
    return "\n".join(lines)


def weights_text(weights: dict[str, Any]) -> str:
    """The last weighing and the baseline, for beside the weight box."""
    last, base = weights.get("last"), weights.get("baseline")
    if last is None or base is None:
        return "no weight on record yet"
    kind = "after" if last["after"] else "before"
    return (
        f"last {last['weight_g']:g} g ({kind} the session of {when(last['when'])[:10]}); "
        f"baseline {base['weight_g']:g} g ({when(base['when'])[:10]})"
    )
