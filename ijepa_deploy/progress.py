"""Progress on long steps: a line when a step starts, a heartbeat while it runs, and its
duration and the process's peak RSS when it ends (all on stderr, so stdout stays parseable)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from ijepa_deploy.memory import peak_rss_gib


class Progress:
    def __init__(self, stream=None, heartbeat: float = 15.0, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.heartbeat = heartbeat
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, name: str, detail: str = ""):
        self.say(f"[{name}] {detail}".rstrip())
        start = time.perf_counter()
        done = threading.Event()

        def beat():
            while not done.wait(self.heartbeat):
                self.say(f"[{name}] ... still running, {time.perf_counter() - start:.0f} s")

        thread = threading.Thread(target=beat, daemon=True)
        if not self.quiet:
            thread.start()
        ended = "stopped after"  # an exception or Ctrl-C: not "done"
        try:
            yield
            ended = "done in"
        finally:
            done.set()
            elapsed = time.perf_counter() - start
            self.timings[name] = round(elapsed, 2)
            self.say(f"[{name}] {ended} {elapsed:.1f} s (peak RSS {peak_rss_gib():.2f} GiB)")
