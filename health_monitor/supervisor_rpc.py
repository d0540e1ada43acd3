"""supervisord's XML-RPC interface over its unix socket (blocking; call from a thread)."""

from __future__ import annotations

import time
import xmlrpc.client
from typing import Any

from supervisor.xmlrpc import Faults, SupervisorTransport


class SupervisorRpc:
    def __init__(self, socket_path: str) -> None:
        self._socket_path = socket_path

    def _proxy(self) -> Any:
        # A fresh proxy per call: ServerProxy is not safe to share between threads.
        transport = SupervisorTransport(None, None, f"unix://{self._socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def processes(self) -> list[dict[str, Any]]:
        return list(self._proxy().supervisor.getAllProcessInfo())

    def restart_hung(self, name: str, timeout_s: float = 15.0) -> None:
        """SIGKILL (a hung process cannot drain anyway), then make sure supervisord starts it again."""
        proxy = self._proxy()
        old_pid = proxy.supervisor.getProcessInfo(name)["pid"]
        try:
            proxy.supervisor.signalProcess(name, "KILL")
        except xmlrpc.client.Fault:
            pass  # it exited on its own meanwhile
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = proxy.supervisor.getProcessInfo(name)
            if info["statename"] in ("STARTING", "RUNNING") and info["pid"] not in (0, old_pid):
                return
            if info["statename"] in ("EXITED", "STOPPED", "FATAL"):
                try:
                    proxy.supervisor.startProcess(name, False)
                except xmlrpc.client.Fault as fault:
                    if fault.faultCode != Faults.ALREADY_STARTED:
                        raise
                    # supervisord's own autorestart got there between our look and our start.
                return
            time.sleep(0.2)
