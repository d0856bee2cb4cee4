"""A local-stack component that does one thing every few seconds in its own thread (the Container Insights
agent, the alarm evaluator, the bridge's SNS pump): it keeps going through errors and keeps the last one."""

from __future__ import annotations

import threading


class Ticker:
    interval: float = 5.0
    thread_name = "local-stack"

    def tick(self) -> object:
        raise NotImplementedError

    def run(self) -> None:
        stop = self._stop_event()
        while not stop.is_set():
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - a component keeps going; the error is kept for the caller
                self.last_error = f"{type(exc).__name__}: {exc}"
            stop.wait(self.interval)

    def _stop_event(self) -> threading.Event:
        if getattr(self, "_stop", None) is None:
            self._stop = threading.Event()
        return self._stop

    def start(self):
        self._stop_event()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_event().set()
        thread = getattr(self, "_thread", None)
        if thread:
            thread.join(10)
