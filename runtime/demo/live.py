"""The demo's terminal view: a rich live panel on a TTY, or plain log lines (``--no-live``, CI)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:5.1f} %"


class LiveView:
    """Shows a state snapshot (a dict made by the orchestrator) and notable events as they happen."""

    def __init__(self, console: Console, live: bool) -> None:
        self.console = console
        self.live = live
        self._events: list[str] = []
        self._display: Live | None = None
        self._last_line = 0.0

    def __enter__(self) -> "LiveView":
        if self.live:
            self._display = Live(Text("starting…"), console=self.console, refresh_per_second=4, transient=False)
            self._display.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._display is not None:
            self._display.__exit__(*exc)
            self._display = None

    def event(self, message: str) -> None:
        """A notable event (drift, trigger, new version, promotion): a log line, and a row in the view."""
        stamp = time.strftime("%H:%M:%S")
        self._events.append(f"{stamp}  {message}")
        if self._display is None:
            self.console.print(f"{stamp} {message}", highlight=False)

    def update(self, state: dict[str, Any]) -> None:
        """Redraw (live) or, every 5 s, print one status line (plain)."""
        if self._display is not None:
            self._display.update(self._render(state))
        elif time.monotonic() - self._last_line >= 5.0:
            self._last_line = time.monotonic()
            self.console.print(
                f"{time.strftime('%H:%M:%S')} event {state['sent']}/{state['total']} [{state['phase']}] "
                f"{state['events_per_s']:.0f} ev/s · lag bridge {state['lag']['bridge']} learner {state['lag']['learner']} "
                f"drift {state['lag']['drift']} · accuracy served {_pct(state['served_accuracy'])} "
                f"online {_pct(state['online_accuracy'])} · champion v{state['champion']} "
                f"challenger {('v' + state['challenger']) if state['challenger'] else '–'} · "
                f"drifts {state['drifts']} triggers {state['triggers']}", highlight=False)

    def _render(self, state: dict[str, Any]) -> Group:
        stream = Table.grid(padding=(0, 2))
        stream.add_row("event", f"{state['sent']} / {state['total']}", "phase", state["phase"])
        stream.add_row("events/s", f"{state['events_per_s']:.0f}", "elapsed", f"{state['elapsed']:.0f} s")
        lag = state["lag"]
        stream.add_row("consumer lag", f"bridge {lag['bridge']} · learner {lag['learner']} · drift {lag['drift']}",
                       "labels", f"{state['labelled']} sent ({state['delay']:.1f} s late)")
        accuracy = Table(title="accuracy (last 300 labelled events)", title_justify="left", expand=False)
        accuracy.add_column("who")
        accuracy.add_column("model")
        accuracy.add_column("accuracy", justify="right")
        accuracy.add_row("served (bridge)", f"champion v{state['champion']}", _pct(state["served_accuracy"]))
        for role, value in sorted(state["role_accuracy"].items()):
            if role != "champion" or len(state["role_accuracy"]) > 1:
                accuracy.add_row(f"  {role}", "", _pct(value))
        accuracy.add_row("online learner", state["learner_model"], _pct(state["online_accuracy"]))
        counts = Text(f"warnings {state['warnings']} · drifts {state['drifts']} · triggers {state['triggers']} · "
                      f"retrained versions {state['retrains']} · challenger "
                      f"{('v' + state['challenger']) if state['challenger'] else '–'}")
        events = Text("\n".join(self._events[-8:]) or "no drift yet")
        return Group(Text("Helicon demo — the streaming-ML loop", style="bold"), stream, accuracy, counts,
                     Text("recent:", style="bold"), events)
