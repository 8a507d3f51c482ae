"""One deploy or rollback end to end: configuration and lock from the CMDB, the rollout, the records.

Used by the ``oam`` commands, the tests and the benchmark alike.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remote import SshOptions

from .artifact import Artifact, ArtifactError, build_artifact, open_artifact
from .canary import BatchAnalyst
from .config import ServiceConfig, check_name, parse_config
from .config_values import load_values
from .events import append_event, deployment_event
from .plan import default_batch_size
from .registry import Registry, RegistryError
from .rollout import HostResult, Outcome, Progress, Rollout
from .samples import TelemetryReader
from .templates import Renderer, Templates


@dataclass
class RunOptions:
    """How to run: who, over which SSH settings, in which batches, and where events go."""

    user: str
    ssh: SshOptions
    hosts: Sequence[str] = ()
    role: str | None = None
    batch_size: int | None = None
    max_parallel: int | None = None
    canary: int = 0
    events_file: Path | None = None
    progress: Progress | None = None
    elasticsearch: Any = None  # an elasticsearch.Elasticsearch for the analysis after each batch
    connect_elasticsearch: Callable[[], Any] | None = None  # or how to make one, called only if there is analysis


def load_config(registry: Registry, service: str) -> ServiceConfig:
    return parse_config(service, registry.load_service_config(service), registry.config_key(service))


def make_artifact(config: ServiceConfig, version: str, source: Path | None, artifact: Path | None,
                  work_dir: Path) -> Artifact:
    """The release artifact: a given tarball, or the source directory (given or configured) packed."""
    if artifact is not None:
        return open_artifact(artifact, version)
    if source is None and config.source:
        source = Path(config.source.format(version=version, service=config.service))
    if source is None:
        raise ArtifactError(f"nothing to deploy: give --source DIR or --artifact FILE, "
                            f"or set 'source' for {config.service}")
    return build_artifact(source, version, work_dir)


def _renderer(registry: Registry, config: ServiceConfig, hosts: Sequence[str]) -> Renderer:
    """Renders the service's templates with its CMDB values, read when a template first needs them."""
    return Renderer(registry.environment, config.service,
                    lambda: load_values(registry.cmdb.store, registry.environment, config.service, hosts))


def _rollout(config: ServiceConfig, options: RunOptions, registry: Registry | None = None) -> Rollout:
    hosts = config.select(options.hosts, options.role)
    batch = options.batch_size or default_batch_size(len(hosts))
    analysis, client, problem = config.analysis, options.elasticsearch, ""
    if client is None and options.connect_elasticsearch is not None and analysis.enabled:
        try:
            client = options.connect_elasticsearch()
        except Exception as exc:  # noqa: BLE001 - bad connection settings make each verdict inconclusive
            problem = f"Elasticsearch not usable: {exc}"
    reader = TelemetryReader(client, analysis.index_prefix, analysis.max_durations) if client is not None else None
    analyst = BatchAnalyst(analysis, analysis.service or config.service, reader, problem)
    renderer = _renderer(registry, config, [h.name for h in hosts]) if registry is not None else None
    return Rollout(config, hosts, options.ssh, batch_size=batch, max_parallel=options.max_parallel,
                   canary=options.canary, progress=options.progress, analyst=analyst, renderer=renderer)


def _finish(registry: Registry, outcome: Outcome, options: RunOptions) -> dict:
    """Store the record (a CMDB failure now must not hide what happened on the hosts) and the event."""
    record = {**outcome.record(options.user), "environment": registry.environment}
    try:
        record["id"] = registry.record_deployment(record)
    except RegistryError as exc:
        record["id"], record["record_error"] = "", str(exc)
    if options.events_file is not None:
        append_event(options.events_file, deployment_event(record, registry.environment))
    return record


def deploy(registry: Registry, service: str, version: str, options: RunOptions, *, source: Path | None = None,
           artifact: Path | None = None) -> tuple[Outcome, dict]:
    """Deploy ``version`` under the service's lock; returns the outcome and the stored record."""
    check_name("version", version)
    config = load_config(registry, service)
    rollout = _rollout(config, options, registry)
    with tempfile.TemporaryDirectory(prefix="oam-release-") as work:
        built = make_artifact(config, version, source, artifact, Path(work))
        templates = Templates.from_artifact(built.path)
        templates.names()  # a template that does not parse fails before the lock is taken
        with registry.lock(service, options.user):
            outcome = rollout.deploy(built, templates)
            return outcome, _finish(registry, outcome, options)


def deploy_config(registry: Registry, service: str, options: RunOptions) -> tuple[Outcome, dict]:
    """Render each host's current release's templates with today's CMDB values and roll the files out."""
    config = load_config(registry, service)
    rollout = _rollout(config, options, registry)
    with registry.lock(service, options.user):
        outcome = rollout.push_config()
        return outcome, _finish(registry, outcome, options)


def rollback(registry: Registry, service: str, to: str | None, options: RunOptions) -> tuple[Outcome, dict]:
    """Switch the service's hosts back to ``to`` (or each to its previous kept release)."""
    if to is not None:
        check_name("version", to)
    config = load_config(registry, service)
    rollout = _rollout(config, options)
    with registry.lock(service, options.user):
        outcome = rollout.rollback(to)
        return outcome, _finish(registry, outcome, options)


def releases(registry: Registry, service: str, options: RunOptions) -> list[HostResult]:
    """The releases kept on each host and the current one (no lock: it changes nothing)."""
    config = load_config(registry, service)
    return _rollout(config, options).inspect()


def dry_run(registry: Registry, service: str, version: str, options: RunOptions, *, source: Path | None = None,
            artifact: Path | None = None) -> tuple[Artifact, list[list[str]], list[HostResult]]:
    """What a deploy would do: the artifact it would ship, the batches, each host's current release and,
    for a release with templates, the files currently in its ``config/`` and those it would render."""
    check_name("version", version)
    config = load_config(registry, service)
    rollout = _rollout(config, options, registry)
    with tempfile.TemporaryDirectory(prefix="oam-release-") as work:
        built = make_artifact(config, version, source, artifact, Path(work))
        templates = Templates.from_artifact(built.path)
    return built, [[h.name for h in batch] for batch in rollout.batches], rollout.preview("deploy", version, templates)


def dry_run_config(registry: Registry, service: str, options: RunOptions) -> tuple[list[list[str]], list[HostResult]]:
    """What ``deploy_config`` would do: the batches, each host's current and newly rendered files."""
    config = load_config(registry, service)
    rollout = _rollout(config, options, registry)
    return [[h.name for h in batch] for batch in rollout.batches], rollout.preview("config")
