"""CPU % over the measured window and RSS of named processes, each and summed per group
(e.g. every redis-server of a cluster), read from /proc."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchlib import cpu_seconds, rss_bytes

MIB = 2**20


class ProcWatch:
    """``pids``: name -> pid; ``groups``: a group name -> the names summed under it."""

    def __init__(self, pids: Mapping[str, int], groups: Mapping[str, Sequence[str]]) -> None:
        self.pids = dict(pids)
        self.groups = {g: list(names) for g, names in groups.items()}
        self.rss_max = dict.fromkeys(self.pids, 0)
        self.group_rss_max = dict.fromkeys(self.groups, 0)
        self.cpu0: dict[str, float] = {}
        self.cpu1: dict[str, float] = {}

    def cpu(self) -> dict[str, float]:
        return {k: cpu_seconds(p) for k, p in self.pids.items()}

    def begin(self) -> None:
        self.cpu0 = self.cpu()

    def end(self) -> None:
        self.cpu1 = self.cpu()

    def sample(self) -> dict[str, int]:
        """RSS of every process now; keeps the highest seen (each, and each group's sum)."""
        rss = {k: rss_bytes(p) for k, p in self.pids.items()}
        for k, v in rss.items():
            self.rss_max[k] = max(self.rss_max[k], v)
        for g, names in self.groups.items():
            self.group_rss_max[g] = max(self.group_rss_max[g], sum(rss[n] for n in names))
        return rss

    def cpu_seconds_used(self, name: str) -> float:
        """CPU seconds between :meth:`begin` and :meth:`end`: one process or a group."""
        names = self.groups.get(name, [name])
        return sum(self.cpu1[n] - self.cpu0[n] for n in names)

    def report(self, dt: float) -> dict[str, Any]:
        """Per process and per group: CPU % of one core over ``dt`` seconds, RSS (MiB)
        highest sampled and at the end."""
        end = self.sample()
        out: dict[str, Any] = {}
        for k, pid in self.pids.items():
            out[k] = {
                "pid": pid,
                "cpu_pct": round(100 * self.cpu_seconds_used(k) / dt, 1),
                "rss_max_mib": round(self.rss_max[k] / MIB, 1),
                "rss_end_mib": round(end[k] / MIB, 1),
            }
        for g, names in self.groups.items():
            out[g] = {
                "cpu_pct": round(100 * self.cpu_seconds_used(g) / dt, 1),
                "rss_max_mib": round(self.group_rss_max[g] / MIB, 1),
                "rss_end_mib": round(sum(end[n] for n in names) / MIB, 1),
            }
        return out
