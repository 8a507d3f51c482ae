"""SSH to the suite's hosts (Fabric): verified host keys, commands with named steps, uploads.

The deployer and the agent installer both reach hosts through it::

    from remote import RemoteHost, SshHost, SshOptions

    options = SshOptions(known_hosts=Path("~/.ssh/known_hosts").expanduser())
    with RemoteHost(SshHost("web1", "10.0.0.11"), options) as host:
        host.run("check", "uname -a", timeout=30)
        host.put("upload", Path("bundle.tar.gz"), "/tmp/bundle.tar.gz")

* :mod:`remote.ssh` — the connection, ``run``, ``run_chain``, ``put`` and ``put_text``; :class:`RemoteError`;
* :mod:`remote.host_keys` — known_hosts checking, and remembering new keys when asked to.
"""
from .ssh import Endpoint, RemoteError, RemoteHost, SshHost, SshOptions

__all__ = ["Endpoint", "RemoteError", "RemoteHost", "SshHost", "SshOptions"]
