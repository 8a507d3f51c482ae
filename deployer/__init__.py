"""Rolling deploys over SSH (:mod:`remote`) with health checks, automatic rollback, per-service locks and history.

The pieces, one concern a module:

* :mod:`deployer.config` — a service's deploy configuration, checked;
* :mod:`deployer.registry` — configuration, locks and records in the CMDB (ZooKeeper);
* :mod:`deployer.artifact` — the release tarball and its checksum;
* :mod:`deployer.layout` — ``releases/<version>``, ``shared/``, ``current`` and the shell steps;
* :mod:`deployer.templates` — a release's ``config/*.j2`` rendered per host (Jinja2), the dry run's diff;
* :mod:`deployer.config_values` — the CMDB values they read, a host's overrides first;
* :mod:`deployer.config_files` — a release's ``config/`` on a host: read, write, put the previous files back;
* :mod:`deployer.health` — the HTTP health check;
* :mod:`deployer.plan` and :mod:`deployer.rollout` — batches, the switch, automatic rollback;
* :mod:`deployer.service` — one deploy or rollback end to end; :mod:`deployer.cli` — ``oam`` commands.
"""
from remote import SshOptions

from .registry import DeployLocked, Registry, RegistryError
from .rollout import Outcome, Rollout
from .service import RunOptions, deploy, releases, rollback

__all__ = ["DeployLocked", "Outcome", "Registry", "RegistryError", "Rollout", "RunOptions", "SshOptions",
           "deploy", "releases", "rollback"]
