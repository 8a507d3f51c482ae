"""What the user reads: the summary table at the end of a rollout and the releases listing."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from foundation.output import table

from .rollout import HostResult, Outcome
from .templates import unified_diff

VERDICTS = {
    "succeeded": "every host is on {version}",
    "rolled_back": "FAILED; every switched host is back on its previous release",
    "failed": "FAILED before any host was switched; every host is still on its release",
    "rollback_incomplete": "FAILED; some hosts could NOT be put back — see below",
    "not_started": "NOT STARTED; no host was changed",
}


def _detail(host: HostResult) -> str:
    parts = []
    if host.error:
        parts.append(f"{host.step}: {host.error}" if host.step and not host.error.startswith(host.step) else host.error)
    if host.rollback_error:
        parts.append(f"rollback: {host.rollback_error}")
    return "; ".join(parts)


def summary(outcome: Outcome) -> str:
    """A table with one row per host, then one line with the verdict."""
    rows = []
    for host in outcome.hosts:
        took = f"{host.seconds:.1f}s" + (f" +{host.rollback_seconds:.1f}s" if host.rollback_seconds else "")
        rows.append([host.host, host.address, str(host.batch), host.previous or "-", host.target or "-",
                     host.status, took, _detail(host)])
    verdict = VERDICTS.get(outcome.result, outcome.result).format(version=outcome.version)
    if outcome.action == "config" and outcome.result == "succeeded":
        verdict = f"every host runs {outcome.version} with the new configuration"
    return "\n".join([table(rows, headers=["HOST", "ADDRESS", "BATCH", "FROM", "TO", "RESULT", "TIME", "DETAIL"]),
                      *analysis_lines(outcome),
                      f"{outcome.action} {outcome.service} {outcome.version}: {verdict} ({outcome.seconds:.1f}s)"])


def analysis_lines(outcome: Outcome) -> list[str]:
    """Each batch's verdict, then one line per check with its figures."""
    lines = []
    for report in outcome.analyses:
        lines.append(f"batch {report.batch} ({', '.join(report.hosts)}): {report.verdict.summary()}")
        lines += [f"  {check.line()}" for check in report.verdict.checks]
    return lines


def releases_table(hosts: Sequence[HostResult]) -> str:
    rows = []
    for host in hosts:
        if host.error:
            rows.append([host.host, host.address, "?", "", host.error])
            continue
        for release in reversed(host.releases):
            mark = "*" if release.version == host.previous else ""
            rows.append([host.host, host.address, release.version, mark, release.deployed_at])
        if not host.releases:
            rows.append([host.host, host.address, "-", "", "no release yet"])
    return table(rows, headers=["HOST", "ADDRESS", "RELEASE", "CURRENT", "DEPLOYED AT"])


def releases_data(hosts: Sequence[HostResult]) -> list[dict[str, Any]]:
    """What :func:`releases_table` shows, as plain data: one object per host, newest release first."""
    return [{"host": host.host, "address": host.address, "current": None if host.error else host.previous,
             "releases": [{"version": r.version, "deployed_at": r.deployed_at} for r in reversed(host.releases)],
             "error": host.error or None} for host in hosts]


def config_data(hosts: Sequence[HostResult]) -> list[dict[str, Any]]:
    """Per host, what a dry run would write into ``config/``: the files, the CMDB key versions, the diff."""
    return [{"host": host.host, "files": host.config_files, "keys": host.config_keys,
             "diff": unified_diff(host.host, host.current_config, host.rendered)}
            for host in hosts if not host.error and host.config_files]


def config_diffs(hosts: Sequence[HostResult]) -> str:
    """Each host's diff between its current ``config/`` files and the rendered ones (or that none change)."""
    parts = []
    for data in config_data(hosts):
        keys = ", ".join(f"{key}@{version}" for key, version in data["keys"].items()) or "no CMDB keys"
        parts.append(f"{data['host']}: config/{', config/'.join(data['files'])} from {keys}")
        parts.append(data["diff"].rstrip("\n") if data["diff"] else f"{data['host']}: config unchanged")
    return "\n".join(parts)
