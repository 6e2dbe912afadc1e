"""The HTTPS harness the sandbox emulators are served with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.sandbox.server import DropConnection, TlsFiles, after_handling, make_tls, serve_wsgi


def hello(environ: Any, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_tls_files_are_kept_and_reused(tmp_path: Path) -> None:
    first = make_tls(tmp_path / "tls")
    ca = first.ca_bundle.read_bytes()

    again = make_tls(tmp_path / "tls")

    assert again == first
    assert again.ca_bundle.read_bytes() == ca
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "ca.pem",
        "server.key",
        "server.pem",
    ]
    assert first.private_key.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_app_is_served_over_https_trusted_through_the_ca_bundle(tls: TlsFiles, host: str) -> None:
    with serve_wsgi(hello, tls=tls) as server:
        assert server.url.startswith("https://127.0.0.1:")
        url = server.url.replace("127.0.0.1", host)
        with requests.Session() as http:
            http.trust_env = False
            assert http.get(url, verify=str(tls.ca_bundle)).text == "hello"
            with pytest.raises(requests.exceptions.SSLError):
                http.get(url, verify=True)


def test_closed_server_refuses_connections() -> None:
    server = serve_wsgi(hello, tls=None)
    assert requests.get(server.url, timeout=5).text == "hello"
    server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=5)


def test_a_hook_hears_each_handled_request_before_its_answer_goes_back() -> None:
    heard: list[tuple[str, str, str]] = []
    handled: list[str] = []

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        handled.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    def hook(service: str, method: str, path: str) -> None:
        heard.append((service, method, path))
        if path == "/lost":
            assert handled[-1] == "/lost"  # the app has done its work already
            raise DropConnection("the answer is lost")

    with serve_wsgi(after_handling(app, "crm", hook), tls=None) as server:
        assert requests.get(f"{server.url}/a", timeout=5).text == "hello"
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{server.url}/lost", timeout=5)
    assert heard == [("crm", "GET", "/a"), ("crm", "POST", "/lost")]
    assert handled == ["/a", "/lost"]


def client_ports(app: Callable[..., Iterable[bytes]], ports: list[str]) -> Any:
    """`app`, noting the client's port of each request: a new port is a new connection."""

    def noted(environ: Any, start_response: Any) -> Iterable[bytes]:
        ports.append(environ["REMOTE_PORT"])
        return app(environ, start_response)

    return noted


@pytest.mark.parametrize("https", [False, True])
@pytest.mark.parametrize(("keep_alive", "connections"), [(True, 1), (False, 3)])
def test_a_kept_alive_server_answers_on_one_connection(
    tmp_path: Path, https: bool, keep_alive: bool, connections: int
) -> None:
    """Werkzeug closes every connection; a real API server (and `keep_alive`) does not:
    over TLS, a handshake saved for each request."""
    ports: list[str] = []
    tls = make_tls(tmp_path / "tls") if https else None
    with (
        serve_wsgi(client_ports(hello, ports), tls=tls, keep_alive=keep_alive) as server,
        requests.Session() as http,
    ):
        http.trust_env = False  # the CA bundle below, not one from the environment
        verify = str(tls.ca_bundle) if tls else True
        for _ in range(3):
            assert http.get(server.url, timeout=5, verify=verify).text == "hello"
    assert len(ports) == 3
    assert len(set(ports)) == connections


def echo(environ: Any, start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body or b"hello"]


def test_a_request_with_a_body_keeps_its_connection_read_or_not() -> None:
    """A batch write's body, read by the app or left unread (a refusal before reading it),
    is not taken for the next request on the same connection."""
    ports: list[str] = []
    with (
        serve_wsgi(client_ports(echo, ports), tls=None) as server,
        serve_wsgi(client_ports(hello, ports), tls=None) as refusing,
        requests.Session() as http,
    ):
        assert http.post(server.url, data=b'{"inputs": []}', timeout=5).text == '{"inputs": []}'
        assert http.get(server.url, timeout=5).text == "hello"
        assert http.post(refusing.url, data=b"unread", timeout=5).text == "hello"
        assert http.get(refusing.url, timeout=5).text == "hello"
    assert ports[0] == ports[1] != ports[2] == ports[3]


def test_a_chunked_request_closes_its_connection() -> None:
    """A body without a length is werkzeug's to read: the connection is not kept."""
    ports: list[str] = []
    with (
        serve_wsgi(client_ports(echo, ports), tls=None) as server,
        requests.Session() as http,
    ):
        assert http.post(server.url, data=iter([b"a", b"b"]), timeout=5).text == "ab"
        assert http.get(server.url, timeout=5).text == "hello"
    assert ports[0] != ports[1]


def test_a_closed_server_shuts_its_kept_alive_connections() -> None:
    with requests.Session() as http:
        server = serve_wsgi(hello, tls=None)
        assert http.get(server.url, timeout=5).text == "hello"
        server.close()
        with pytest.raises(requests.ConnectionError):
            http.get(server.url, timeout=5)
