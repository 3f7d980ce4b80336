"""Background processes of the local platform: start detached, recognise later, stop cleanly.

Each process is started in a session of its own (so Ctrl-C in the terminal that ran
``helicon local up`` does not reach it) with ``HELICON_LOCAL_STATE_DIR`` in its environment, so that
``down`` can find every process a state directory owns even if its state file was lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

STATE_DIR_MARKER = "HELICON_LOCAL_STATE_DIR"


@dataclass(frozen=True)
class ProcessHandle:
    """A process recorded by pid and start time, so that a recycled pid is never mistaken for it."""

    pid: int
    started_at: float

    def is_running(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            return abs(process.create_time() - self.started_at) < 0.05 and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def to_json(self) -> dict[str, float | int]:
        return {"pid": self.pid, "started_at": self.started_at}

    @classmethod
    def from_json(cls, data: Mapping[str, float | int]) -> "ProcessHandle":
        return cls(pid=int(data["pid"]), started_at=float(data["started_at"]))


def spawn(command: Sequence[str], log_file: Path, state_dir: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> ProcessHandle:
    """Start ``command`` detached, with stdout and stderr appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **(env or {}), STATE_DIR_MARKER: str(state_dir.resolve())}
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=environment, cwd=cwd, start_new_session=True,
        )
    return ProcessHandle(pid=process.pid, started_at=psutil.Process(process.pid).create_time())


def stop(handle: ProcessHandle, timeout: float = 30.0) -> None:
    """SIGTERM the process's group, wait up to ``timeout`` seconds, then SIGKILL what is left."""
    if not handle.is_running():
        return
    try:
        process = psutil.Process(handle.pid)
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return
    _signal_group(handle.pid, family, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    if alive:
        _signal_group(handle.pid, alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)


def owned_processes(state_dir: Path) -> list[psutil.Process]:
    """Every live process started for ``state_dir``, found by the marker in its environment."""
    marker = str(state_dir.resolve())
    owned = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(STATE_DIR_MARKER) == marker \
                    and process.status() != psutil.STATUS_ZOMBIE:
                owned.append(process)
        except psutil.Error:
            continue
    return owned


def kill_all(processes: list[psutil.Process], timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL: for strays that no state file records."""
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def _signal_group(leader_pid: int, family: list[psutil.Process], signum: signal.Signals) -> None:
    try:
        os.killpg(leader_pid, signum)
    except OSError:
        pass
    for process in family:  # children that left the group still get the signal
        try:
            process.send_signal(signum)
        except psutil.Error:
            pass
