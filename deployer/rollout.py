"""The rolling switch: batches of hosts, each staged, switched, restarted and health-checked.

One engine serves ``deploy`` (upload a new release first), ``rollback`` (switch to a kept
release) and ``config`` (write newly rendered ``config/`` files into each host's current release,
keeping the ones they replace, and restart). Before anything changes, every host is checked (SSH,
host key, deploy root, current release) and a release's templates are rendered for every host: a
template that cannot be rendered stops the run with :class:`~deployer.templates.TemplateProblem`,
no host changed. Then batch after batch, up to ``max_parallel`` hosts at a time. If any host fails, no
further batch starts, and every host that was switched goes back to the release it had, and is
health-checked again. Each host's result says what happened to it.

Usage::

    rollout = Rollout(config, hosts, SshOptions(known_hosts=Path("~/.ssh/known_hosts")),
                      batch_size=2, progress=print)
    outcome = rollout.deploy(build_artifact(Path("build"), "1.4.0", Path("/tmp/out")))
    outcome.result          # "succeeded", "rolled_back", "failed" (before any switch),
                            # "rollback_incomplete" or "not_started"
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from foundation.clock import utc_now, utc_now_iso
from remote import RemoteError, RemoteHost, SshOptions

from . import layout as steps
from .analysis import inconclusive
from .artifact import Artifact
from .canary import BatchAnalyst, BatchReport
from .config import HostSpec, ServiceConfig
from .config_files import parse_config, read_config, restore_config, write_config
from .health import wait_healthy
from .layout import Layout, Release
from .plan import plan_batches
from .templates import Renderer, TemplateProblem, Templates

# Host states, as the summary and the records show them.
DEPLOYED, FAILED, ROLLED_BACK, ROLLBACK_FAILED = "deployed", "failed", "rolled back", "rollback failed"
SKIPPED, UNREACHABLE, PENDING = "skipped", "unreachable", "pending"

INSPECT_AND_REVERT_PARALLEL = 32  # hosts inspected, or put back after a failure, at once

# Exit codes of `oam deploy` and `oam rollback`.
EXIT_OK, EXIT_NOT_STARTED, EXIT_ROLLED_BACK, EXIT_ROLLBACK_INCOMPLETE = 0, 1, 2, 3


@dataclass(frozen=True)
class ProgressEvent:
    host: str
    step: str
    status: str  # "start", "ok", "failed"
    detail: str = ""

    def line(self) -> str:
        return f"[{self.host}] {self.step} {self.status}" + (f": {self.detail}" if self.detail else "")


Progress = Callable[[ProgressEvent], None]


@dataclass
class HostResult:
    """What happened on one host."""

    host: str
    address: str
    batch: int = 0
    previous: str | None = None
    target: str = ""
    status: str = PENDING
    step: str = ""
    error: str = ""
    seconds: float = 0.0
    rollback_seconds: float = 0.0
    rollback_error: str = ""
    switched: bool = False
    created_release: bool = False
    config_keys: dict[str, int] = field(default_factory=dict)  # CMDB key -> version the config was rendered with
    config_files: list[str] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)  # the current release's config/*.j2 (config action)
    current_config: dict[str, str] = field(default_factory=dict)  # the current release's rendered files
    rendered: dict[str, str] = field(default_factory=dict)  # the files this run writes

    def record(self) -> dict:
        data = asdict(self)
        for unrecorded in ("releases", "templates", "current_config", "rendered"):
            data.pop(unrecorded)
        data["seconds"] = round(self.seconds, 3)
        data["rollback_seconds"] = round(self.rollback_seconds, 3)
        return data


@dataclass
class Outcome:
    action: str
    service: str
    version: str
    result: str
    hosts: list[HostResult]
    batches: list[list[str]]
    started: str
    finished: str
    seconds: float
    analyses: list[BatchReport] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"succeeded": EXIT_OK, "not_started": EXIT_NOT_STARTED, "rolled_back": EXIT_ROLLED_BACK,
                "failed": EXIT_ROLLED_BACK}.get(self.result, EXIT_ROLLBACK_INCOMPLETE)

    @property
    def rolled_back(self) -> bool:
        return any(h.status in (ROLLED_BACK, ROLLBACK_FAILED) for h in self.hosts)

    def record(self, user: str) -> dict:
        return {"service": self.service, "action": self.action, "version": self.version, "user": user,
                "result": self.result, "rolled_back": self.rolled_back, "batches": self.batches,
                "started": self.started, "finished": self.finished, "seconds": round(self.seconds, 3),
                "hosts": [h.record() for h in self.hosts], "analysis": [a.record() for a in self.analyses]}


class Rollout:
    """Rolls one service's hosts to a version, batch by batch, and back if anything fails."""

    def __init__(self, config: ServiceConfig, hosts: Sequence[HostSpec], ssh: SshOptions, *, batch_size: int = 1,
                 max_parallel: int | None = None, canary: int = 0, progress: Progress | None = None,
                 analyst: BatchAnalyst | None = None, renderer: Renderer | None = None) -> None:
        self.config = config
        self.analyst = analyst
        self.renderer = renderer
        self._action = ""
        self._templates = Templates()
        self.hosts = list(hosts)
        self.ssh = ssh
        self.batches = plan_batches(self.hosts, batch_size, canary)
        self.max_parallel = max(1, max_parallel or max(len(b) for b in self.batches))
        self.progress = progress or (lambda event: None)
        self._remotes: dict[str, RemoteHost] = {}  # one SSH connection per host, kept for the whole run

    # public
    def deploy(self, artifact: Artifact, templates: Templates | None = None) -> Outcome:
        """Upload ``artifact`` and switch every host to it, with its ``templates`` rendered into its ``config/``."""
        self._templates = templates or Templates()
        return self._run("deploy", artifact.version, artifact)

    def push_config(self) -> Outcome:
        """Render each host's current release's templates anew and roll the files out (no new release)."""
        return self._run("config", "", None)

    def preview(self, action: str, version: str = "", templates: Templates | None = None) -> list[HostResult]:
        """What a ``deploy`` of ``version`` (with ``templates``) or ``config`` would write: each host's
        current and rendered files, changing nothing."""
        self._templates = templates or Templates()
        self._action = action
        results = self.inspect(keep_open=True)
        try:
            pairs = [(h, r) for h, r in zip(self.hosts, results, strict=True) if not r.error]
            for _, result in pairs:
                result.target = version if action == "deploy" else result.previous or ""
            if self._renders():
                self._parallel(self._read_config, pairs, INSPECT_AND_REVERT_PARALLEL)
                self._render_all([(h, r) for h, r in pairs if not r.error])
        finally:
            self._close_all()
        return results

    def rollback(self, to: str | None = None) -> Outcome:
        """Switch every host to ``to`` (or to the release before its current one); it must be kept there."""
        return self._run("rollback", to or "", None)

    def inspect(self, keep_open: bool = False) -> list[HostResult]:
        """Each host's releases (oldest first) and current one, changing nothing; errors stay with the host."""
        results = [HostResult(h.name, h.address) for h in self.hosts]
        try:
            self._parallel(lambda host, result: self._inspect_host(host, result, prepare_layout=False),
                           list(zip(self.hosts, results, strict=True)), INSPECT_AND_REVERT_PARALLEL)
        finally:
            if not keep_open:
                self._close_all()
        return results

    def _remote(self, host: HostSpec) -> RemoteHost:
        if host.name not in self._remotes:
            self._remotes[host.name] = RemoteHost(host, self.ssh)
        return self._remotes[host.name]

    def _close_all(self) -> None:
        for remote in self._remotes.values():
            remote.close()
        self._remotes.clear()

    # the run
    def _run(self, action: str, version: str, artifact: Artifact | None) -> Outcome:
        try:
            return self._run_batches(action, version, artifact)
        finally:
            self._close_all()

    def _run_batches(self, action: str, version: str, artifact: Artifact | None) -> Outcome:
        self._action = action
        started, clock, began = utc_now_iso("milliseconds"), time.monotonic(), utc_now()
        analyses: list[BatchReport] = []
        pairs = [(host, HostResult(host.name, host.address)) for host in self.hosts]
        by_name = {host.name: result for host, result in pairs}
        for number, batch in enumerate(self.batches, 1):
            for host in batch:
                by_name[host.name].batch = number
        self._parallel(self._inspect_host, pairs, INSPECT_AND_REVERT_PARALLEL)
        result = "succeeded"
        problem = [r for _, r in pairs if r.error] or self._choose_targets(action, version, pairs)
        if not problem and self._renders():
            if action == "config":
                self._parallel(self._read_config, pairs, INSPECT_AND_REVERT_PARALLEL)
                problem = [r for _, r in pairs if r.error]
            if not problem:
                self._render_all(pairs)  # TemplateProblem: nothing has changed on any host
        if problem:
            for _, r in pairs:
                if r.status == PENDING:
                    r.status = SKIPPED
            result = "not_started"
        else:
            interrupted = False
            try:
                for number, batch in enumerate(self.batches, 1):
                    work = [(host, by_name[host.name]) for host in batch]
                    self._parallel(lambda h, r: self._switch_host(h, r, artifact), work)
                    if any(r.status != DEPLOYED for _, r in work):
                        break
                    if action in ("deploy", "config") and self.config.analysis.enabled:
                        report = self._analyse(number, [r for _, r in work],
                                               [r for _, r in pairs if r.status == PENDING], began)
                        analyses.append(report)
                        if not report.verdict.passed:
                            break
            except KeyboardInterrupt:  # Ctrl-C: the running batch has finished; put everything back
                interrupted = True
            if any(r.status != DEPLOYED for _, r in pairs):
                for _, r in pairs:
                    if r.status == PENDING:
                        r.status = SKIPPED
                        r.error = "interrupted before its batch" if interrupted else ""
                self._parallel(self._revert_host, [(h, r) for h, r in pairs if r.switched or r.created_release],
                               INSPECT_AND_REVERT_PARALLEL)
                if any(r.status == ROLLBACK_FAILED for _, r in pairs):
                    result = "rollback_incomplete"
                else:
                    result = "rolled_back" if any(r.status == ROLLED_BACK for _, r in pairs) else "failed"
        shown = version or ",".join(sorted({r.target for _, r in pairs if r.target})) or "previous"
        return Outcome(action, self.config.service, shown, result, [r for _, r in pairs],
                       [[h.name for h in b] for b in self.batches], started, utc_now_iso("milliseconds"),
                       time.monotonic() - clock, analyses)

    def _analyse(self, number: int, batch: list[HostResult], waiting: list[HostResult], began) -> BatchReport:
        """Bake the healthy batch, then judge it; a verdict that does not pass fails the batch's hosts."""
        settings = self.config.analysis
        label = f"batch {number}"
        self._say(label, "analysis", "start", f"baking {settings.bake_seconds:g}s")
        start = utc_now()
        time.sleep(settings.bake_seconds)
        end = utc_now()
        time.sleep(settings.settle_seconds)  # for the bake's telemetry to reach Elasticsearch
        names, baseline = [r.host for r in batch], [r.host for r in waiting]
        analyst = self.analyst or BatchAnalyst(settings, self.config.service, None)
        try:
            report = analyst.judge(number, names, baseline, batch[0].target, start, end, began)
        except Exception as exc:  # noqa: BLE001 - a broken analysis must not pass a batch silently
            report = BatchReport(number, names, baseline, ("", ""), ("", ""),
                                 inconclusive(f"analysis failed: {type(exc).__name__}: {exc}",
                                              settings.on_inconclusive))
        verdict = report.verdict
        for check in verdict.checks:
            self._say(label, "analysis", "ok" if check.result != "fail" else "failed", check.line())
        self._say(label, "analysis", "ok" if verdict.passed else "failed",
                  f"{verdict.summary()} ({report.verdict_seconds:.1f}s after the bake)")
        if not verdict.passed:
            for result in batch:
                result.status, result.step = FAILED, "analysis"
                result.error = verdict.summary()
        return report

    def _renders(self) -> bool:
        """Whether this run renders configuration: a deploy of a release with templates, or ``config``."""
        return self.renderer is not None and (self._action == "config" or bool(self._templates))

    def _read_config(self, host: HostSpec, result: HostResult) -> None:
        """The current release's ``config/`` files (templates too, for ``config``)."""
        try:
            output = self._remote(host).run("read-config", read_config(Layout(host.deploy_root).current),
                                            self.config.command_timeout)
        except RemoteError as exc:
            self._fail(host, result, exc.step, str(exc))
            return
        templates, result.current_config = parse_config(output)
        if self._action == "config":
            result.templates = templates

    def _render_all(self, pairs: list[tuple[HostSpec, HostResult]]) -> None:
        """Render every host's files before any host changes; :class:`TemplateProblem` for the first that fails."""
        renderer = self.renderer
        if renderer is None or not self._renders():
            return
        for host, result in pairs:
            if self._action == "config":
                templates = Templates(result.templates)
                if not templates:
                    raise TemplateProblem(f"{host.name}: its current release {result.previous or '(none)'} "
                                          f"has no config/*.j2 templates to render")
            else:
                templates = self._templates
            rendered = renderer.render(templates, host, result.target)
            result.rendered, result.config_keys = rendered.files, rendered.keys
            result.config_files = sorted(rendered.files)
            self._say(host.name, "render", "ok", f"{len(rendered.files)} file(s) from {len(rendered.keys)} CMDB key(s)")

    def _choose_targets(self, action: str, version: str, pairs: list[tuple[HostSpec, HostResult]]) -> list[HostResult]:
        """Set each host's target; for a rollback, the target must be kept on the host; ``config`` keeps
        the current release."""
        problems = []
        for _, r in pairs:
            kept = [rel.version for rel in r.releases]
            if action == "deploy":
                r.target = version
            elif action == "config":
                r.target = r.previous or ""
                if not r.target:
                    r.status, r.step, r.error = FAILED, "check", "no current release to configure"
            elif version:
                r.target = version
                if version not in kept:
                    r.status, r.step = FAILED, "check"
                    r.error = f"{version} is not kept here (kept: {', '.join(kept) or 'none'})"
            else:
                r.target = steps.previous_release(r.releases, r.previous) or ""
                if not r.target:
                    r.status, r.step, r.error = FAILED, "check", f"no release before {r.previous or 'none'} is kept"
            if r.error:
                problems.append(r)
                self._say(r.host, "check", "failed", r.error)
        return problems

    def _parallel(self, work: Callable[[HostSpec, HostResult], None], pairs: list[tuple[HostSpec, HostResult]],
                  width: int | None = None) -> None:
        """Run ``work`` on each host, ``width`` (default ``max_parallel``) at a time; wait for all."""
        if not pairs:
            return
        with ThreadPoolExecutor(max_workers=min(width or self.max_parallel, len(pairs))) as pool:
            for future in [pool.submit(work, host, result) for host, result in pairs]:
                future.result()

    def _say(self, host: str, step: str, status: str, detail: str = "") -> None:
        try:
            self.progress(ProgressEvent(host, step, status, detail))
        except Exception:  # noqa: BLE001 - a broken progress display must not break a rollout
            pass

    def _env(self, host: HostSpec, version: str) -> dict[str, str]:
        root = Layout(host.deploy_root)
        return {**host.env, "OAM_SERVICE": self.config.service, "OAM_VERSION": version, "OAM_HOST": host.name,
                "OAM_DEPLOY_ROOT": root.root, "OAM_RELEASE_DIR": root.release(version), "OAM_SHARED_DIR": root.shared}

    # per host
    def _inspect_host(self, host: HostSpec, result: HostResult, prepare_layout: bool = True) -> None:
        root = Layout(host.deploy_root)
        try:
            output = self._remote(host).run("inspect", steps.inspect(root, self.config.shared_dirs, prepare_layout),
                                            self.config.command_timeout)
            result.previous, result.releases = steps.parse_inspect(output)
        except RemoteError as exc:
            result.status = UNREACHABLE if exc.step == "connect" else FAILED
            result.step, result.error = exc.step, str(exc)
            self._say(host.name, exc.step, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - one odd host must not stop the check of the others
            result.status, result.step, result.error = FAILED, "inspect", f"unexpected {type(exc).__name__}: {exc}"

    def _step(self, host: HostSpec, result: HostResult, step: str, action: Callable[[], object],
              detail: str = "") -> None:
        """Run one step, announcing it; ``detail`` (or what a health check returns) goes with the "ok"."""
        result.step = step
        self._say(host.name, step, "start")
        begun = time.monotonic()
        returned = action()
        detail = detail or (returned if step == "health" and isinstance(returned, str) else "")
        self._say(host.name, step, "ok", (detail + " " if detail else "") + f"({time.monotonic() - begun:.1f}s)")

    def _switch_host(self, host: HostSpec, result: HostResult, artifact: Artifact | None) -> None:
        """Stage (deploy only), pre hooks, switch and restart in one round trip; then health, post hooks."""
        begun = time.monotonic()
        config, root, version = self.config, Layout(host.deploy_root), result.target
        env = self._env(host, version)
        try:
            remote = self._remote(host)
            self._step(host, result, "connect", remote.connect)
            chain = self._stage(host, result, remote, artifact) if artifact is not None else []
            if result.rendered:
                chain.append(("config", write_config(root.release(version), result.rendered,
                                                     keep_previous=self._action == "config")))
            chain += [("pre-hook", steps.shell(hook, root.release(version), env)) for hook in config.pre_hooks]
            if self._action == "config":
                chain.append(("restart", steps.shell(config.restart, root.current, env)))
            else:
                chain += self._switch_and_restart(host, version)
            self._run_chain(host, result, remote, chain)
            self._check_health(host, result, version)
            for command in config.verify_commands(host):
                self._step(host, result, "test", lambda command=command: run_local_test(command, config.command_timeout))
            for hook in config.post_hooks:
                self._step(host, result, "post-hook", lambda hook=hook: remote.run(
                    "post-hook", steps.shell(hook, root.current, env), config.command_timeout))
            result.status, result.step = DEPLOYED, ""
        except RemoteError as exc:
            self._fail(host, result, exc.step, str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the other hosts must be put back
            self._fail(host, result, result.step or "deploy", f"unexpected {type(exc).__name__}: {exc}")
        finally:
            result.seconds = time.monotonic() - begun

    def _stage(self, host: HostSpec, result: HostResult, remote: RemoteHost,
               artifact: Artifact) -> list[tuple[str, str]]:
        """Upload the artifact (unless the same release is unpacked already); the staging steps to chain."""
        root, version = Layout(host.deploy_root), artifact.version
        existing = next((r for r in result.releases if r.version == version), None)
        link = ("link-shared", steps.link_shared(root, version, self.config.shared_dirs))
        if existing is not None and existing.sha256 == artifact.sha256:
            self._say(host.name, "upload", "ok", f"{version} already unpacked with the same checksum")
            return [link]
        if existing is not None and version == result.previous:
            raise RemoteError("upload", f"{version} is current here with other content; deploy it as a new version")
        self._step(host, result, "upload", lambda: remote.put("upload", artifact.path, root.upload(version)),
                   f"{artifact.size} bytes")
        result.created_release = existing is None
        stale = self._stale(result)
        return [("verify", steps.verify(root.upload(version), artifact.sha256)),
                ("unpack", steps.unpack(root, version, artifact.sha256, utc_now_iso("milliseconds"))), link,
                *([("cleanup", steps.remove_releases(root, stale))] if stale else [])]

    def _switch_and_restart(self, host: HostSpec, version: str) -> list[tuple[str, str]]:
        root = Layout(host.deploy_root)
        return [("switch", steps.switch(root, version)),
                ("restart", steps.shell(self.config.restart, root.current, self._env(host, version)))]

    def _run_chain(self, host: HostSpec, result: HostResult, remote: RemoteHost, chain: list[tuple[str, str]]) -> None:
        """Run the chained steps, then report each; ``result.switched`` unless it failed before the switch."""
        names = [name for name, _ in chain]
        for name in names:
            self._say(host.name, name, "start")
        result.step = names[0]
        result.switched = True  # until we know better: if the answer is lost, the host may have switched
        begun = time.monotonic()
        changes = "config" if self._action == "config" else "switch"  # the first step that touches current
        try:
            remote.run_chain(chain, self.config.command_timeout)
        except RemoteError as exc:
            done = names[:names.index(exc.step)] if exc.step in names else []
            if not exc.uncertain and changes not in done and exc.step != changes:
                result.switched = False  # it failed before the switch: current was not touched
            for name in done:
                self._say(host.name, name, "ok", self._detail(name, result))
            raise
        for name in names[:-1]:
            self._say(host.name, name, "ok", self._detail(name, result))
        self._say(host.name, names[-1], "ok", f"({len(names)} steps in {time.monotonic() - begun:.1f}s)")
        result.step = names[-1]

    def _detail(self, step: str, result: HostResult) -> str:
        if step == "switch":
            return f"current -> releases/{result.target}"
        if step == "cleanup":
            return "removed " + ", ".join(self._stale(result))
        if step == "verify":
            return "sha256 matches"
        return ""

    def _check_health(self, host: HostSpec, result: HostResult, version: str) -> None:
        def health() -> str:
            check = self.config.health
            outcome = wait_healthy(self.config.health_url(host), version if check.expect_version else None,
                                   timeout=check.timeout, retries=check.retries, interval=check.interval)
            if not outcome.healthy:
                raise RemoteError("health", outcome.detail)
            return f"healthy after {outcome.attempts} attempt(s)"

        self._step(host, result, "health", health)

    def _stale(self, result: HostResult) -> list[str]:
        """Releases beyond the newest ``keep_releases`` once the new one is in (never current or new)."""
        releases = [r for r in result.releases if r.version != result.target]
        releases.append(Release(result.target, utc_now_iso("milliseconds")))
        return steps.stale_releases(releases, self.config.keep_releases, [result.target, result.previous or ""])

    def _fail(self, host: HostSpec, result: HostResult, step: str, error: str) -> None:
        result.status = UNREACHABLE if step == "connect" else FAILED
        result.step, result.error = step, error
        self._say(host.name, step, "failed", error)

    def _discard_release(self, host: HostSpec, result: HostResult) -> None:
        try:
            self._remote(host).run("cleanup", steps.remove_releases(Layout(host.deploy_root), [result.target]),
                                   self.config.command_timeout)
        except RemoteError as exc:  # a leftover unpacked release harms nothing; say so and go on
            self._say(host.name, "cleanup", "failed", str(exc))

    def _revert_host(self, host: HostSpec, result: HostResult) -> None:
        """Put a switched host back on the release it had, restart it and check its health.

        A host that failed before its switch only loses the release this deploy unpacked there.
        """
        begun = time.monotonic()
        back = result.previous
        if not result.switched:
            self._discard_release(host, result)
            return
        try:
            if not back:
                raise RemoteError("rollback", "no earlier release to go back to")
            root = Layout(host.deploy_root)
            remote = self._remote(host)
            self._say(host.name, "rollback", "start", f"back to {back}" + (
                " and its previous config files" if self._action == "config" else ""))
            if self._action == "config":
                chain = [("restore-config", restore_config(root.release(back), result.config_files)),
                         ("restart", steps.shell(self.config.restart, root.current, self._env(host, back)))]
            else:
                chain = self._switch_and_restart(host, back)
            if result.created_release and result.target != back:
                chain.append(("cleanup", steps.remove_releases(root, [result.target])))
            remote.run_chain(chain, self.config.command_timeout)
            self._check_health(host, HostResult(host.name, host.address), back)
            if result.status == DEPLOYED:
                result.step = ""
            result.status = ROLLED_BACK
            self._say(host.name, "rollback", "ok", f"on {back} and healthy")
        except Exception as exc:  # noqa: BLE001 - RemoteError or not, this host could not be put back
            result.status = ROLLBACK_FAILED
            step = exc.step if isinstance(exc, RemoteError) else "rollback"
            result.rollback_error = f"{step}: {exc}" if isinstance(exc, RemoteError) else f"{step}: unexpected {exc!r}"
            self._say(host.name, "rollback", "failed", str(exc))
        finally:
            result.rollback_seconds = time.monotonic() - begun


def run_local_test(command: str, timeout: float) -> None:
    """Run a ``verify`` command on this machine; RemoteError("test") with its exit and last output line."""
    try:
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise RemoteError("test", f"{command}: took over {timeout:g}s") from None
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        raise RemoteError("test", f"exit {done.returncode}: {command}: {lines[-1] if lines else 'no output'}")
