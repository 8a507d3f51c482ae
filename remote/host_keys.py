"""Host keys checked against a known_hosts file.

An unknown host key is refused (paramiko's ``RejectPolicy``) unless the caller trusts new keys
explicitly; then the key is appended to the known_hosts file. A changed key is always refused.
"""
from __future__ import annotations

import threading
from pathlib import Path

import paramiko

_known_hosts_lock = threading.Lock()


class TrustAndRemember(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key and append it to the known_hosts file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with _known_hosts_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


def check_host_keys(client: paramiko.SSHClient, known_hosts: Path, trust_new: bool) -> None:
    """Make ``client`` check host keys against ``known_hosts`` (remembering new ones if ``trust_new``)."""
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    if trust_new:
        client.set_missing_host_key_policy(TrustAndRemember(known_hosts))
    else:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
