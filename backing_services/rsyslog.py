"""Debian's rsyslog as a log shipper: imfile tails files, omelasticsearch bulk-indexes them over TLS.

Usage::

    shipper = RsyslogShipper(Path("/tmp/rs1"), files="/tmp/logs/*.log", es_port=9200,
                             ca_file=es.ca_file, user="rsyslog-writer", password="...", index="rs-logs-2026.12.03")
    shipper.start()      # rsyslogd -n -f <dir>/rsyslog.conf -i <dir>/rsyslogd.pid, its own work dir
    shipper.stop()

It is never the system's rsyslog: its own configuration, pid file and work directory (imfile's
file positions) under ``base_dir``, no local sockets (no imuxsock, no imklog), run in the
foreground as an unprivileged account (:data:`RSYSLOG_USER` when started as root). Each line
becomes one ECS-shaped JSON document (``@timestamp`` when read, ``message``, ``host.name``,
``log.file.path``, ``agent.type``). Needs the Debian packages ``rsyslog`` and
``rsyslog-elasticsearch`` (scripts/setup installs them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .process import ManagedProcess, ServiceError

RSYSLOGD = "/usr/sbin/rsyslogd"
MODULE = "/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so"
RSYSLOG_USER = "nobody"
RSYSLOG_GROUP = "nogroup"


@dataclass(frozen=True)
class Output:
    """Where and how omelasticsearch sends: one index, basic auth, TLS verified against ``ca_file``."""

    port: int
    user: str
    password: str
    index: str
    ca_file: str
    host: str = "127.0.0.1"
    batch: int = 1000          # queue.dequeueBatchSize: documents per bulk request at most
    workers: int = 2           # queue.workerThreads: bulk requests in flight


def _quote(value: str | int) -> str:
    """A RainerScript string literal."""
    return json.dumps(str(value), ensure_ascii=False)


def render_config(work_dir: Path, files: str, output: Output, host_name: str = "rsyslog-host") -> str:
    """The whole rsyslog.conf: imfile on ``files`` (a glob), every line to omelasticsearch."""
    doc = [("@timestamp", "timereported", ' dateFormat="rfc3339"'), ("message", "msg", ""),
           ("log.file.path", "$!metadata!filename", "")]
    fields = "\n".join(f'  property(outname={_quote(out)} name={_quote(name)}{extra} format="jsonf")'
                       for out, name, extra in doc)
    return f"""\
global(workDirectory={_quote(work_dir)} maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omelasticsearch")
template(name="oam_document" type="list" option.jsonf="on") {{
{fields}
  constant(outname="host.name" value={_quote(host_name)} format="jsonf")
  constant(outname="agent.type" value="rsyslog" format="jsonf")
}}
template(name="oam_id" type="string" string="%uuid%")
ruleset(name="to_elasticsearch") {{
  action(type="omelasticsearch" name="elasticsearch"
         server={_quote(output.host)} serverport={_quote(output.port)} usehttps="on"
         tls.cacert={_quote(output.ca_file)} uid={_quote(output.user)} pwd={_quote(output.password)}
         searchIndex={_quote(output.index)} esVersion.major="8" template="oam_document"
         writeoperation="create" dynbulkid="on" bulkid="oam_id"
         bulkmode="on" maxbytes="8m" errorFile={_quote(work_dir / "elasticsearch-errors.json")}
         action.resumeRetryCount="-1" action.resumeInterval="1"
         queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize={_quote(output.batch)}
         queue.workerThreads={_quote(output.workers)})
}}
input(type="imfile" file={_quote(files)} tag="oam-bench:" addMetadata="on" freshStartTail="off"
      ruleset="to_elasticsearch")
"""


class RsyslogShipper:
    """One private rsyslogd in ``base_dir`` (config, pid file, work dir, console log)."""

    def __init__(self, base_dir: Path, files: str, output: Output, die_with_parent: bool = True) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.files = files
        self.output = output
        self.user = RSYSLOG_USER if os.geteuid() == 0 else None
        # setpriv execs rsyslogd, so the process's pid is rsyslogd's own.
        self.drop = ["setpriv", f"--reuid={RSYSLOG_USER}", f"--regid={RSYSLOG_GROUP}", "--clear-groups"] \
            if self.user else []
        self.config_path = self.base_dir / "rsyslog.conf"
        self.pid_path = self.base_dir / "rsyslogd.pid"
        self.work_dir = self.base_dir / "work"
        self.process = ManagedProcess(
            "rsyslogd", [*self.drop, RSYSLOGD, "-n", "-f", str(self.config_path), "-i", str(self.pid_path)],
            cwd=self.base_dir, log_path=self.base_dir / "console.log", pid_file=self.base_dir / "managed.pid",
            die_with_parent=die_with_parent)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @staticmethod
    def installed() -> bool:
        """Whether rsyslogd and its omelasticsearch module are on this machine."""
        return Path(RSYSLOGD).exists() and Path(MODULE).exists()

    def prepare(self) -> None:
        """Write the configuration (the CA copied beside it) and hand the directory to its user."""
        if not self.installed():
            raise ServiceError("rsyslog or rsyslog-elasticsearch is not installed; run scripts/setup")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ca_copy = self.base_dir / "ca.crt"
        shutil.copyfile(self.output.ca_file, ca_copy)
        output = Output(**{**self.output.__dict__, "ca_file": str(ca_copy)})
        self.config_path.write_text(render_config(self.work_dir, self.files, output))
        self.config_path.chmod(0o600)  # it holds the password
        if self.user:
            subprocess.run(["chown", "-R", f"{RSYSLOG_USER}:{RSYSLOG_GROUP}", str(self.base_dir)], check=True)

    def start(self) -> None:
        """Check the configuration (``rsyslogd -N1``), then start it in the foreground; raise with its log."""
        self.prepare()
        check = subprocess.run([*self.drop, RSYSLOGD, "-N1", "-f", str(self.config_path)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise ServiceError(f"rsyslog rejected {self.config_path}:\n{check.stdout}{check.stderr}")
        self.process.start()

    def running(self) -> bool:
        return self.process.running()

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)
