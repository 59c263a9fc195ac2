"""Ctrl-C and SIGTERM: stop long work promptly, never in the middle of a cleanup, never with a
traceback.

Python runs a signal's handler in the main thread between two bytecodes of whatever runs there,
so the default KeyboardInterrupt can surface anywhere: in a library's ``__del__``, weakref
finalizer or atexit callback (Python prints it as an "Exception ignored" traceback and the work
carries on as if no signal had come), halfway through a cleanup, or during interpreter shutdown.
Masking the signals with pthread_sigmask does not defer them: it masks one thread, and the kernel
gives a process-directed signal to any thread that does not mask it (torch, ONNX Runtime,
OpenVINO and the progress heartbeat all run threads), whose C handler still queues the Python
handler for the main thread. So the deferring is done here, in the Python handler.

While :func:`handling` is active (main thread only):

- the first SIGINT/SIGTERM raises :class:`Interrupted` (a KeyboardInterrupt); later ones are only
  recorded, so the unwinding and its cleanup run to the end (SIGKILL still ends a stuck process);
- inside :func:`held` even the first one is only recorded; :func:`check` raises it where the
  caller can act on it, and the outermost ``handling`` hands it to the previous handler;
- an Interrupted that a finalizer swallowed is not printed (``sys.unraisablehook``) and is raised
  again in the main thread a moment later;
- ``handling(then_exit_quietly=True)`` (a CLI process): once the command is done, a signal ends
  the process at once with ``128 + signum`` instead of a traceback from interpreter shutdown.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REDELIVER_AFTER = 0.05  # s: long enough for the finalizer that swallowed it to return


class Interrupted(KeyboardInterrupt):
    """The work was stopped by SIGINT or SIGTERM; ``str()`` is the one line to show the user."""

    def __init__(self, signum: int | None = None, message: str | None = None):
        self.signum = int(signum or signal.SIGINT)
        self.message = message or f"interrupted by {signal_name(self.signum)}"
        super().__init__(self.message)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return self.message


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum or signal.SIGINT).name


class _State:
    def __init__(self):
        self.depth = 0  # nested handling()
        self.held = 0  # nested held()
        self.received: int | None = None  # the first signal since the outermost handling() began
        self.raised = False  # an Interrupted for it has been raised (and is unwinding)
        self.quiet_exit = False  # the command is done: a signal ends the process
        self.previous: dict = {}
        self.previous_hook = None


_state = _State()


def _on_signal(signum, frame):
    if _state.quiet_exit:
        _exit_now(signum)
    if _state.received is None:
        _state.received = signum
    if _state.held or _state.raised:
        return
    _state.raised = True
    raise Interrupted(signum)


def _exit_now(signum: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + signum)


def _on_unraisable(info) -> None:
    if not isinstance(info.exc_value, Interrupted):
        (_state.previous_hook or sys.__unraisablehook__)(info)
        return
    # A __del__, weakref callback or atexit function swallowed the interrupt: the work would go on
    # as if it never came. Say nothing here and raise it again once that finalizer has returned.
    if _state.quiet_exit or _state.depth == 0:
        return
    _state.raised = False
    timer = threading.Timer(_REDELIVER_AFTER, _redeliver, (info.exc_value.signum,))
    timer.daemon = True
    timer.start()


def _redeliver(signum: int) -> None:
    if _state.depth and not _state.quiet_exit and not _state.raised:  # still ours to raise
        _thread.interrupt_main(signal.Signals(signum))  # runs _on_signal in the main thread at its next bytecode


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handling(then_exit_quietly: bool = False, held: bool = False):
    """SIGINT/SIGTERM handled as the module docstring says for the duration (nests). ``held``:
    start inside a held section (a command's own wrapper code, which then runs the work through
    :func:`allowing`), so a signal never interrupts the wrapper itself (its error printing,
    its return), only the work."""
    if not _in_main_thread():  # signal handlers can only be set there; signals go there anyway
        yield
        return
    outermost = _state.depth == 0
    _state.held += held  # before the handlers go in
    if outermost:
        _state.received, _state.raised = None, False
        _state.previous = {s: signal.signal(s, _on_signal) for s in SIGNALS}
        _state.previous_hook, sys.unraisablehook = sys.unraisablehook, _on_unraisable
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if outermost:
            _leave(then_exit_quietly)
        _state.held -= held


def _leave(then_exit_quietly: bool) -> None:
    pending = _state.received if not _state.raised else None
    if then_exit_quietly:  # the command is done and the process is about to end
        _state.quiet_exit = True  # handlers and hook stay for interpreter shutdown
        if pending is not None:
            _exit_now(pending)
        return
    for s, handler in _state.previous.items():
        signal.signal(s, handler)
    sys.unraisablehook = _state.previous_hook or sys.__unraisablehook__
    _state.received, _state.raised, _state.previous, _state.previous_hook = None, False, {}, None
    if pending is not None:  # deferred by held() and never raised: the previous handler's turn
        signal.raise_signal(pending)


def allowing(fn, *args):
    """``fn(*args)`` with signals raising again, from inside a held section (see :func:`handling`)."""
    depth, _state.held = _state.held, 0
    try:
        check()  # one that came while held
        return fn(*args)
    finally:
        _state.held = depth


@contextlib.contextmanager
def held():
    """Record SIGINT/SIGTERM instead of raising them for a few steps that must not stop halfway
    (renames, the swap, moving a failed export aside)."""
    if not _in_main_thread():
        yield
        return
    with handling():
        _state.held += 1
        try:
            yield
        finally:
            _state.held -= 1


def received() -> int | None:
    """The signal that arrived during the current :func:`handling`, if any (raised or not)."""
    return _state.received


def check() -> None:
    """Raise :class:`Interrupted` if a signal came and was deferred, or swallowed by library code
    (call it only where no interrupt is unwinding: on the normal path)."""
    if _state.received is not None:
        _state.raised = True
        raise Interrupted(_state.received)
