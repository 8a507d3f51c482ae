"""What ``oam agent install`` puts on a host: where each file goes, the unit and the fallback supervisor.

    /opt/oam-agent/                 the virtualenv (root's); agent.pid and agent.log without systemd
    /etc/oam/agent.toml             settings and secrets: mode 600, owner oam-agent
    /var/lib/oam/agent/             checkpoints and the metrics buffer (oam-agent's, the only
                                    place the unit may write)
    /etc/systemd/system/oam-agent.service

``root`` moves the whole tree (``{name}`` in it becomes the host's name), for several hosts
sharing one file system.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

USER = "oam-agent"
LOG_GROUPS = ("adm", "systemd-journal")  # Debian's groups that may read /var/log and the journal
UNIT = "oam-agent.service"
RESTART_SEC = 5


@dataclass(frozen=True)
class Layout:
    root: str = "/"

    def _at(self, path: str) -> str:
        return posixpath.join(self.root, path.lstrip("/"))

    @property
    def prefix(self) -> str:
        return self._at("/opt/oam-agent")

    @property
    def config_dir(self) -> str:
        return self._at("/etc/oam")

    @property
    def config(self) -> str:
        return self._at("/etc/oam/agent.toml")

    @property
    def data_dir(self) -> str:
        return self._at("/var/lib/oam/agent")

    @property
    def unit(self) -> str:
        return self._at(f"/etc/systemd/system/{UNIT}")

    @property
    def oam(self) -> str:
        return self.prefix + "/venv/bin/oam"


def unit_text(layout: Layout) -> str:
    """The hardened systemd unit: its own account, read-only system, writes only to its data dir."""
    return f"""[Unit]
Description=OAM host agent (metrics, scrapes and logs to the collectors)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={USER}
Group={USER}
ExecStart={layout.oam} agent run --config {layout.config}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec={RESTART_SEC}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
ReadWritePaths={layout.data_dir}

[Install]
WantedBy=multi-user.target
"""


def supervisor_text(layout: Layout) -> str:
    """Where systemd does not run: keeps the agent running as oam-agent (restarts it after a failure,
    like ``Restart=on-failure``), passes SIGHUP on (reload) and stops it on SIGTERM."""
    return f"""#!/bin/sh
# Keeps the OAM agent running as {USER}. SIGHUP: the agent reloads its settings. SIGTERM: stop.
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
trap 'kill -HUP $child 2>/dev/null' HUP
while true; do
  setpriv --reuid={USER} --regid={USER} --init-groups --no-new-privs \\
    {layout.oam} agent run --config {layout.config} &
  child=$!
  wait $child; code=$?
  while kill -0 $child 2>/dev/null; do wait $child; code=$?; done  # a HUP interrupted the wait
  [ "$code" -eq 0 ] && exit 0
  sleep {RESTART_SEC}
done
"""
