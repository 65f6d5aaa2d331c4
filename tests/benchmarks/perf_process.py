"""The server process from outside: resident memory sampled in the background (so the peak is not missed)
and CPU time."""

from __future__ import annotations

import threading
import time

import psutil

SAMPLE_SECONDS = 0.1
MIB = 1024 * 1024
IDLE_PROBE_SECONDS = 0.25
IDLE_CPU_SHARE = 0.05


class ProcessMonitor:
    """Samples the RSS of process `pid` every SAMPLE_SECONDS until stop(); `peak_mib` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak_mib = 0.0
        self.window_peak_mib = 0.0  # the largest RSS since start_window()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-monitor", daemon=True)
        self._thread.start()

    def current_mib(self) -> float:
        rss = self._process.memory_info().rss / MIB
        self.peak_mib = max(self.peak_mib, rss)
        self.window_peak_mib = max(self.window_peak_mib, rss)
        return rss

    def start_window(self) -> None:
        self.window_peak_mib = self.current_mib()

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (all its threads)."""
        times = self._process.cpu_times()
        return times.user + times.system

    def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Returns once the process uses under IDLE_CPU_SHARE of a core over IDLE_PROBE_SECONDS (or after
        `timeout`): work left over from the last measurement must not slow down the next one."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            before = self.cpu_seconds()
            time.sleep(IDLE_PROBE_SECONDS)
            if self.cpu_seconds() - before < IDLE_CPU_SHARE * IDLE_PROBE_SECONDS:
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stopped.wait(SAMPLE_SECONDS):
            try:
                self.current_mib()
            except psutil.NoSuchProcess:
                return
