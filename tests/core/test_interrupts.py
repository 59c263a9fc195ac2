"""SIGINT/SIGTERM handling (ijepa_deploy.interrupts): deferred where work must not stop halfway,
even when another thread receives the signal; never printed from a finalizer; one line from a CLI.

Each scenario runs in a fresh interpreter (``python this_file scenario``): real signals to the
pytest process itself are unsafe once other tests have run there (after the OpenVINO benchmark
test the main thread's alternate signal stack is no longer Python's, and any Python signal
handler then segfaults), and a scenario's stderr is checked whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ijepa_deploy import interrupts
from ijepa_deploy.cli import run
from ijepa_deploy.interrupts import Interrupted


def from_another_thread(signum: int) -> None:
    """A process-directed signal sent from a second thread, as kill(1) or a terminal would; the
    kernel may deliver it to any thread (torch, ONNX Runtime and OpenVINO run pools)."""
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signum))
    sender.start()
    sender.join()


def wait_for_handler(seconds: float = 2.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # bytecodes: the main thread runs pending handlers here
        time.sleep(0.01)


def scenario_held_defers_a_signal_from_another_thread_until_check():
    done = []
    with interrupts.handling():
        with interrupts.held():
            from_another_thread(signal.SIGTERM)
            wait_for_handler(0.3)
            done.append("the held steps ran to the end")
        with pytest.raises(Interrupted) as info:
            interrupts.check()
    assert done and info.value.signum == signal.SIGTERM and info.value.exit_code == 143


def scenario_first_signal_raises_later_ones_do_not_cut_the_cleanup_short():
    cleaned = False
    with interrupts.handling():
        with pytest.raises(Interrupted):
            try:
                from_another_thread(signal.SIGINT)
                wait_for_handler()
            finally:
                from_another_thread(signal.SIGINT)  # a second Ctrl-C during the cleanup
                wait_for_handler(0.3)
                cleaned = True
    assert cleaned


def scenario_an_interrupt_swallowed_by_a_finalizer_is_silent_and_raised_again():
    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)  # the handler runs inside __del__
            wait_for_handler(0.05)

    with interrupts.handling():
        with pytest.raises(Interrupted):
            obj = Finalized()
            del obj  # Python would print "Exception ignored in ... KeyboardInterrupt" and go on
            wait_for_handler()


def scenario_a_signal_held_to_the_end_goes_to_the_previous_handler():
    # As in a terminal. A background job (nohup, CI) starts with SIGINT ignored, and Python then
    # installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with pytest.raises(KeyboardInterrupt) as info:  # Python's default SIGINT handler, after handling()
        with interrupts.held():
            signal.raise_signal(signal.SIGINT)
    assert not isinstance(info.value, Interrupted)


def scenario_cli_run_prints_one_line_and_exits_128_plus_signal():
    def main(argv):
        from_another_thread(signal.SIGTERM)
        wait_for_handler()
        return 0

    before = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    assert run(main, []) == 143  # and stderr is the one line (test_scenario)
    assert (signal.getsignal(signal.SIGTERM), sys.unraisablehook) == before  # an in-process caller gets its own back


SCENARIOS = {name[len("scenario_") :]: fn for name, fn in dict(globals()).items() if name.startswith("scenario_")}
STDERR = {"cli_run_prints_one_line_and_exits_128_plus_signal": "interrupted by SIGTERM\n"}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name):
    proc = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", STDERR.get(name, "")), proc.stderr


PROGRAM = """
import atexit, os, signal, sys, time
from ijepa_deploy.cli import run

def during_shutdown():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    print("atexit went on", flush=True)

atexit.register(during_shutdown)
sys.exit(run(lambda argv: print("done", flush=True)))
"""


def test_a_signal_during_interpreter_shutdown_ends_the_program_quietly():
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "done\n", "")


if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
