"""ConfigMaps read for the command line: ``tuneop import katib --from-cluster``.

Katib keeps trial templates in a ConfigMap (``trialTemplate.configMap``); the
import reads that ConfigMap through the one transport (``Kube.request``: bounded
answer, timeouts, domain errors). A ConfigMap that is not there is None; an
answer that is no object is a ``TransientError`` naming the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import Kube
from tuneop.ports import TransientError

__all__ = ["ConfigMapClient"]


@dataclass
class ConfigMapClient:
    """The ``ConfigMaps`` port over one ``Kube``."""

    kube: Kube

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        reply = self.kube.request(
            "read_config_map", "GET", paths.config_maps(namespace, name), expect=(404,)
        )
        if reply.status == 404:
            return None
        if not isinstance(reply.body, dict):
            raise TransientError("read_config_map: the API server's answer is no ConfigMap")
        return reply.body

    def close(self) -> None:
        self.kube.close()
