"""System metrics with Metricbeat-style names (``system.cpu.total.pct``, ...), read with psutil.

CPU and I/O figures are rates over the interval since the previous call, so the first call
primes the counters and reports CPU as 0.
"""
from __future__ import annotations

import os
import time
from typing import Any

import psutil

IGNORED_FS = {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "overlay", "squashfs",
              "mqueue", "securityfs", "debugfs", "tracefs", "pstore", "bpf", "autofs", "configfs", "fusectl",
              "hugetlbfs", "nsfs", "binfmt_misc", "rpc_pipefs"}


class SystemMetrics:
    def __init__(self) -> None:
        self._last_disk = psutil.disk_io_counters(perdisk=True) or {}
        self._last_net = psutil.net_io_counters(pernic=True) or {}
        self._last_time = time.monotonic()
        psutil.cpu_times_percent(percpu=True)
        psutil.cpu_times_percent()

    def collect(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """(dataset, fields, labels) triples: one per CPU core, mount, disk and interface, plus totals."""
        now = time.monotonic()
        elapsed = max(1e-6, now - self._last_time)
        self._last_time = now
        out: list[tuple[str, dict[str, Any], dict[str, str]]] = []

        total = psutil.cpu_times_percent()
        cores = psutil.cpu_count() or 1
        cpu = {f"system.cpu.{name}.pct": round(getattr(total, name, 0.0) / 100, 4)
               for name in ("user", "system", "iowait", "steal", "idle")}
        cpu["system.cpu.total.pct"] = round(1 - total.idle / 100, 4)
        cpu["system.cpu.cores"] = cores
        out.append(("system.cpu", cpu, {}))
        for index, core in enumerate(psutil.cpu_times_percent(percpu=True)):
            fields = {f"system.core.{name}.pct": round(getattr(core, name, 0.0) / 100, 4)
                      for name in ("user", "system", "iowait", "steal")}
            fields["system.core.id"] = index
            out.append(("system.core", fields, {"core": str(index)}))

        one, five, fifteen = os.getloadavg()
        out.append(("system.load", {"system.load.1": one, "system.load.5": five, "system.load.15": fifteen,
                                    "system.load.norm.1": round(one / cores, 4)}, {}))
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        out.append(("system.memory", {
            "system.memory.total": memory.total, "system.memory.used.bytes": memory.total - memory.available,
            "system.memory.used.pct": round(1 - memory.available / memory.total, 4),
            "system.memory.swap.total": swap.total, "system.memory.swap.used.bytes": swap.used,
            "system.memory.swap.used.pct": round(swap.percent / 100, 4)}, {}))

        for part in psutil.disk_partitions(all=False):
            if part.fstype in IGNORED_FS:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue
            out.append(("system.filesystem", {
                "system.filesystem.mount_point": part.mountpoint, "system.filesystem.device_name": part.device,
                "system.filesystem.type": part.fstype, "system.filesystem.total": usage.total,
                "system.filesystem.used.bytes": usage.used, "system.filesystem.used.pct": round(usage.percent / 100, 4),
                "system.filesystem.available": usage.free}, {"mount": part.mountpoint}))

        disks = psutil.disk_io_counters(perdisk=True) or {}
        for name, now_io in disks.items():
            before = self._last_disk.get(name)
            if before is None or name.startswith(("loop", "ram")):
                continue
            out.append(("system.diskio", {
                "system.diskio.name": name,
                "system.diskio.read.bytes_per_sec": (now_io.read_bytes - before.read_bytes) / elapsed,
                "system.diskio.write.bytes_per_sec": (now_io.write_bytes - before.write_bytes) / elapsed,
                "system.diskio.read.count": now_io.read_count, "system.diskio.write.count": now_io.write_count},
                {"disk": name}))
        self._last_disk = disks

        nets = psutil.net_io_counters(pernic=True) or {}
        for name, now_net in nets.items():
            before = self._last_net.get(name)
            if before is None:
                continue
            out.append(("system.network", {
                "system.network.name": name,
                "system.network.in.bytes_per_sec": (now_net.bytes_recv - before.bytes_recv) / elapsed,
                "system.network.out.bytes_per_sec": (now_net.bytes_sent - before.bytes_sent) / elapsed,
                "system.network.in.errors": now_net.errin, "system.network.out.errors": now_net.errout},
                {"interface": name}))
        self._last_net = nets

        out.append(("system.process", {"system.process.summary.total": len(psutil.pids())}, {}))
        out.append(("system.uptime", {"system.uptime.duration.ms": int((time.time() - psutil.boot_time()) * 1000)}, {}))
        return out
