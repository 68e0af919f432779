"""The user an image runs as, and the kubelet's ``runAsNonRoot`` check against it.

The node simulator runs no images, so it cannot read an image's ``USER``; this table
stands for it. Katib v0.19.0's trial images are built from the Dockerfiles under
``examples/v1beta1/trial-images/`` (``pytorch-mnist``, ``tf-mnist-with-summaries``,
``simple-pbt``, ``enas-cnn-cifar10``, ``darts-cnn-cifar10``): none sets ``USER``, and
their bases (``python:3.11-slim``, ``nvcr.io/nvidia/pytorch``, ``nvcr.io/nvidia/tensorflow``)
run as root, so they run as UID 0. tuneop's runner image sets ``USER 10001:10001``
(``runner_image/Dockerfile``). An image the table does not know is taken to run as a
non-root user, so tests that never thought about users keep running.

``run_as_non_root_problem`` is the kubelet's rule (``verifyRunAsNonRoot`` in
``pkg/kubelet/kuberuntime/security_context_others.go``): with ``runAsNonRoot: true``
(the container's, else the pod's), a ``runAsUser`` (the container's, else the pod's)
of 0 is refused, a non-zero one passes, and without one the image's user decides: root
(or no USER, which is root) is refused, with ``CreateContainerConfigError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ROOT_IMAGES", "image_user", "run_as_non_root_problem"]

# Repositories (without tag) whose images run as root: Katib's trial images and the
# common ML bases their Dockerfiles start from.
ROOT_IMAGES = (
    "ghcr.io/kubeflow/katib/pytorch-mnist-cpu",
    "ghcr.io/kubeflow/katib/pytorch-mnist-gpu",
    "ghcr.io/kubeflow/katib/tf-mnist-with-summaries",
    "ghcr.io/kubeflow/katib/simple-pbt",
    "ghcr.io/kubeflow/katib/enas-cnn-cifar10-cpu",
    "ghcr.io/kubeflow/katib/enas-cnn-cifar10-gpu",
    "ghcr.io/kubeflow/katib/darts-cnn-cifar10-cpu",
    "ghcr.io/kubeflow/katib/darts-cnn-cifar10-gpu",
    "ghcr.io/kubeflow/katib/xgboost-lightgbm",
    "docker.io/kubeflowkatib/pytorch-mnist",
    "python",
    "docker.io/library/python",
    "nvcr.io/nvidia/pytorch",
    "nvcr.io/nvidia/tensorflow",
    "pytorch/pytorch",
)
_NON_ROOT_UID = 10001


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def image_user(image: str) -> int:
    """The UID ``image`` runs as: 0 for the root images above, else a non-root UID."""
    return 0 if _repository(image) in ROOT_IMAGES else _NON_ROOT_UID


def _setting(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (pod.get("securityContext") or {}).get(key)


def run_as_non_root_problem(pod_spec: dict[str, Any], container: dict[str, Any]) -> str | None:
    """The kubelet's message when ``container`` may not start under ``runAsNonRoot``."""
    if _setting(pod_spec, container, "runAsNonRoot") is not True:
        return None
    uid = _setting(pod_spec, container, "runAsUser")
    if uid is not None:
        return None if uid != 0 else "container's runAsUser breaks non-root policy"
    if image_user(str(container.get("image") or "")) == 0:
        return "container has runAsNonRoot and image will run as root"
    return None
