"""A read-only stand-in for the Kubernetes API on 127.0.0.1, so Helm's real `lookup` can run offline.

It answers the discovery call Helm makes for core/v1 and GETs of Secrets it holds (404 otherwise):
enough for a cluster-aware render (`helm_python.Config.render`), nothing more.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import helm_python as helm

_CORE_V1 = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret", "verbs": ["get"]}
    ],
}


class KubeAPI:
    """Secrets by (namespace, name); ``requests`` records every path asked for."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []

    def store(self, secret: dict[str, Any]) -> None:
        metadata = secret["metadata"]
        self.secrets[metadata["namespace"], metadata["name"]] = secret

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        self.requests.append(path)
        parts = path.split("?", 1)[0].strip("/").split("/")
        if parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["apis"]:
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if parts == ["api", "v1"]:
            return 200, _CORE_V1
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "secrets":
            secret = self.secrets.get((parts[3], parts[5]))
            if secret is not None:
                return 200, secret
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "NotFound",
            "code": 404,
        }
        return 404, status


@contextmanager
def cluster(api: KubeAPI, namespace: str) -> Iterator[helm.Config]:
    """A Helm configuration whose cluster is ``api``, served on a free port for the block's duration."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = api.answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="kube-api", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stand-in", "cluster": {"server": url}}],
            "users": [{"name": "tester", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "tester"}}],
            "current-context": "stand-in",
        }
    )
    try:
        with helm.Config(kubeconfig_content=kubeconfig, namespace=namespace) as config:
            yield config
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
