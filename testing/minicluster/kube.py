"""A plain-JSON view of the Kubernetes API for the harness.

The official client's generated models get in the way of a test harness: they reject valid
answers (a Binding's Status reply), reformat timestamps and hide fields the harness needs raw.
``Kube`` keeps what the client does well (kubeconfig loading, TLS, client certificates and
tokens, connection pooling) through ``ApiClient.call_api`` and exchanges plain dicts instead.
Errors are the client's ``ApiException`` (``.status`` holds the HTTP code).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

__all__ = ["ApiException", "Kube", "is_status"]

Json = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


def is_status(error: BaseException, *codes: int) -> bool:
    """Whether ``error`` is an API error with one of the HTTP ``codes``."""
    return isinstance(error, ApiException) and error.status in codes


class Kube:
    """JSON requests against the cluster that a kubeconfig file points at."""

    def __init__(self, kubeconfig: str, *, timeout: float = 30.0) -> None:
        self.configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=self.configuration)
        self.api_client = client.ApiClient(self.configuration)
        self.timeout = timeout

    @property
    def server(self) -> str:
        return str(self.configuration.host)

    @property
    def ca_file(self) -> str | None:
        ca = self.configuration.ssl_ca_cert
        return str(ca) if ca else None

    def close(self) -> None:
        self.api_client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        stream: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON body (or the raw response if ``stream``)."""
        query_params = [(k, v) for k, v in (query or {}).items() if v is not None]
        response = self.api_client.call_api(
            path,
            method,
            query_params=query_params,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=timeout if timeout is not None else self.timeout,
        )
        if stream:
            return response
        data = response.data
        return json.loads(data) if data else None

    def get(self, path: str, **query: Any) -> Json:
        result: Json = self.request("GET", path, query=query)
        return result

    def get_or_none(self, path: str, **query: Any) -> Json | None:
        try:
            return self.get(path, **query)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def post(self, path: str, body: Json, **query: Any) -> Json:
        result: Json = self.request("POST", path, body=body, query=query)
        return result

    def put(self, path: str, body: Json) -> Json:
        result: Json = self.request("PUT", path, body=body)
        return result

    def patch(self, path: str, body: Json, *, content_type: str = MERGE_PATCH) -> Json:
        result: Json = self.request("PATCH", path, body=body, content_type=content_type)
        return result

    def delete(self, path: str, body: Json | None = None, **query: Any) -> Json | None:
        """Delete; a resource that is already gone is not an error."""
        try:
            result: Json | None = self.request("DELETE", path, body=body, query=query)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return result

    def watch(
        self,
        path: str,
        resource_version: str,
        *,
        timeout_seconds: int = 60,
        on_response: Callable[[Any], None] | None = None,
        **query: Any,
    ) -> Iterator[Json]:
        """Yield watch events ({type, object}) until the server ends the watch.

        ``on_response`` gets the open urllib3 response, so that another thread can end the
        watch early with its ``shutdown()``.
        """
        query = {
            **query,
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        response = self.request("GET", path, query=query, stream=True, timeout=timeout_seconds + 10)
        if on_response is not None:
            on_response(response)
        try:
            buffer = b""
            for chunk in response.stream(amt=65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()
