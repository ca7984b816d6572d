"""`make run` stops everything it started even when a second signal arrives while it stops."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import sys, time
from conformity_devstack.kafka import wait_for_interrupt
wait_for_interrupt(on_ready=lambda: print("ready", flush=True))
print("stopping", flush=True)
time.sleep(1.0)  # the shutdown's work, during which a second signal arrives
print("stopped", flush=True)
"""


def test_a_second_signal_while_stopping_does_not_cut_the_shutdown_short(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    assert process.stdout.readline().strip() == "stopping"
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)
    rest = process.stdout.read()
    assert process.wait(timeout=30) == 0
    assert rest.strip() == "stopped"
