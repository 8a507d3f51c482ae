"""``oam agent run``: the host agent daemon."""
from __future__ import annotations

import logging
import signal
from pathlib import Path

import click

from .config import AgentConfigError, load_agent_config


@click.group("agent")
def agent() -> None:
    """The host agent: system metrics, Prometheus scrapes and log files, shipped to the collectors."""


@agent.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="The agent's TOML settings (see docs/agent.md).")
@click.option("-v", "--verbose", is_flag=True, help="Log every batch.")
def run(config_path: Path, verbose: bool) -> None:
    """Run until SIGTERM or Ctrl-C; checkpoints survive any stop, SIGKILL included."""
    from .daemon import HostAgent

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_agent_config(config_path)
    except AgentConfigError as exc:
        raise click.ClickException(str(exc)) from None
    daemon = HostAgent(config)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
    try:
        daemon.run()
    except KeyboardInterrupt:
        daemon.stop.set()
