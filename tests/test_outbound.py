"""Outbound requests never reach loopback, private or metadata addresses unless allowed.

No network is used beyond 127.0.0.1: local servers run in threads, and host names that need
DNS are answered by a fake `socket.getaddrinfo`.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from productops.core.errors import BlockedURL, OutboundError, SettingsError
from productops.core.outbound import (
    OutboundPolicy,
    UnsupportedURL,
    check_url,
    get,
    post,
)
from productops.core.settings import Settings

SECURITY_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "security"
SSRF_TARGETS = SECURITY_DATA / "ssrf_targets.txt"
LOCAL = OutboundPolicy(allow_hosts=["127.0.0.1"], timeout_seconds=5)


# --- a real local HTTP server ----------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer(ThreadingHTTPServer):
    seen: list[Seen]
    release: threading.Event

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http", **query: str) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{scheme}://{host}:{self.port}{path}{suffix}"


class Handler(BaseHTTPRequestHandler):
    """/hello, /redirect?to=&status=, /loop, /big?n=&declare=, /slow, /echo."""

    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(Seen(self.command, url.path, headers, body))
        try:
            if url.path == "/hello":
                self._reply(200, b"hello from the test server")
            elif url.path == "/redirect":
                self._redirect(int(query.get("status", "302")), query["to"])
            elif url.path == "/loop":
                self._redirect(302, "/loop")
            elif url.path == "/big":
                self._reply(200, b"x" * int(query["n"]), declare=query.get("declare") != "0")
            elif url.path == "/slow":
                self.server.release.wait(5)
                self._reply(200, b"too late")
            elif url.path == "/echo":
                echo = {"method": self.command, "headers": headers, "body": body.decode()}
                self._reply(200, json.dumps(echo).encode(), "application/json")
            else:
                self._reply(404, b"not found")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first, as the timeout test intends

    def _reply(
        self, status: int, body: bytes, content_type: str = "text/plain", declare: bool = True
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if declare:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    """Start as many local servers as a test needs (HTTPS given a TLS context); all stop after."""
    started: list[tuple[LocalServer, threading.Thread]] = []

    def start(tls: ssl.SSLContext | None = None) -> LocalServer:
        server = LocalServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.seen = []
        server.release = threading.Event()
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server(serve: Callable[..., LocalServer]) -> LocalServer:
    return serve()


# --- fake DNS and a record of every socket opened ---------------------------------------------


@dataclass
class FakeDNS:
    """Answers for chosen names; each lookup takes the next answer, the last one repeats."""

    answers: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def add(self, name: str, *addresses: str) -> None:
        self.answers.setdefault(name, []).append(addresses)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        dns.lookups.append(name)
        if name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if name not in dns.answers:
            return real(host, port, *args, **kwargs)
        queue = dns.answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [info for address in answer for info in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return dns


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host of every TCP connection opened during the test."""
    hosts: list[str] = []
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        hosts.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return hosts


# --- refused before anything is contacted ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a00:1::]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://localhost/",
        "http://localhost./",
        "http://api.localhost/",
        "https://10.0.0.1:8443/",
        "http://evil.example.com@127.0.0.1/",
    ],
)
def test_loopback_private_and_metadata_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL, match=r"^refusing "):
        check_url(url, OutboundPolicy())


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://127.0.0.1/", "//x/"]
)
def test_only_http_and_https_urls_are_allowed(url: str) -> None:
    with pytest.raises(UnsupportedURL, match="only http and https") as caught:
        check_url(url, OutboundPolicy(allow_private=True))
    assert isinstance(caught.value, OutboundError)
    assert isinstance(caught.value, BlockedURL)


def test_refusal_names_the_host_and_the_reason() -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url("http://10.0.0.1/", OutboundPolicy())
    assert str(caught.value) == "refusing http://10.0.0.1/: 10.0.0.1 is a private address"


def test_refusal_of_an_encoded_address_names_what_it_decodes_to() -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url("http://2130706433/", OutboundPolicy())
    assert "2130706433 resolves to 127.0.0.1, which is a loopback address" in str(caught.value)
    with pytest.raises(BlockedURL, match=r"IPv4-mapped form of 127\.0\.0\.1"):
        check_url("http://[::ffff:127.0.0.1]/", OutboundPolicy())


def test_refusal_never_shows_credentials_path_or_query() -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url("https://user:pw@10.0.0.1:8443/hooks/S3CRET?token=S3CRET", OutboundPolicy())
    message = str(caught.value)
    assert message.startswith("refusing https://10.0.0.1:8443/:")
    assert "S3CRET" not in message
    assert "pw" not in message


def test_public_name_resolving_to_a_private_address_is_refused(
    fake_dns: FakeDNS, dialled: list[str]
) -> None:
    fake_dns.add("evil.example.com", "127.0.0.1")
    with pytest.raises(BlockedURL, match=r"evil\.example\.com resolves to 127\.0\.0\.1"):
        check_url("http://evil.example.com/", OutboundPolicy())
    with pytest.raises(BlockedURL):
        get("http://evil.example.com/", policy=OutboundPolicy())
    assert dialled == []


def test_a_name_is_refused_when_any_of_its_addresses_is_private(fake_dns: FakeDNS) -> None:
    fake_dns.add("mixed.example.com", "93.184.215.14", "10.0.0.1")
    with pytest.raises(BlockedURL, match=r"resolves to 10\.0\.0\.1"):
        check_url("https://mixed.example.com/", OutboundPolicy())


def test_public_addresses_pass_the_check(fake_dns: FakeDNS) -> None:
    fake_dns.add("hooks.example.com", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert [str(ip) for ip in check_url("https://hooks.example.com/x", OutboundPolicy())] == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    assert check_url("http://[64:ff9b::808:808]/", OutboundPolicy())  # NAT64 of a public address


def test_unresolvable_host_is_an_outbound_error(fake_dns: FakeDNS) -> None:
    with pytest.raises(OutboundError, match="does not resolve"):
        check_url("https://nowhere.invalid/", OutboundPolicy())


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(v=4))
def test_every_spelling_of_an_ipv4_address_gets_the_same_verdict(
    ip: ipaddress.IPv4Address,
) -> None:
    def refused(url: str) -> bool:
        try:
            check_url(url, OutboundPolicy())
        except BlockedURL:
            return True
        return False

    expected = not ip.is_global or ip.is_multicast
    assert refused(f"http://{ip}/") is expected
    assert refused(f"http://{int(ip)}/") is expected
    assert refused(f"http://[::ffff:{ip}]/") is expected


# --- what the operator can allow ----------------------------------------------------------


def test_allow_private_opens_loopback_but_not_cloud_metadata() -> None:
    policy = OutboundPolicy(allow_private=True)
    assert check_url("http://127.0.0.1:8080/", policy) == [ipaddress.ip_address("127.0.0.1")]
    assert check_url("http://10.0.0.1/", policy)
    with pytest.raises(BlockedURL, match="cloud metadata"):
        check_url("http://169.254.169.254/latest/meta-data/", policy)
    with pytest.raises(BlockedURL, match="cloud metadata"):
        check_url("http://metadata.google.internal/", policy)


def test_allow_hosts_cidr_opens_only_that_network() -> None:
    policy = OutboundPolicy(allow_hosts=["10.0.0.0/8"])
    assert check_url("http://10.1.2.3/", policy)
    assert check_url("http://[::ffff:10.1.2.3]/", policy)
    with pytest.raises(BlockedURL):
        check_url("http://192.168.0.1/", policy)


def test_allow_hosts_name_trusts_that_name_only(fake_dns: FakeDNS, server: LocalServer) -> None:
    fake_dns.add("jira.corp.example", "127.0.0.1")
    policy = OutboundPolicy(allow_hosts=["Jira.Corp.Example."], timeout_seconds=5)
    response = get(server.url("/hello", host="jira.corp.example"), policy=policy)
    assert response.content == b"hello from the test server"
    with pytest.raises(BlockedURL):
        check_url(server.url("/hello"), policy)


def test_malformed_allow_hosts_entry_is_refused_up_front() -> None:
    with pytest.raises(SettingsError, match=r"10\.0\.0\.0/33"):
        OutboundPolicy(allow_hosts=["10.0.0.0/33"])


def test_policy_follows_the_outbound_settings() -> None:
    policy = OutboundPolicy.from_settings(
        Settings(
            outbound_allow_private=True,
            outbound_allow_hosts=["10.0.0.0/8", "jira.corp"],
            outbound_timeout_seconds=2.5,
            outbound_max_bytes=1000,
        )
    )
    assert policy.allow_private is True
    assert policy.allow_hosts == ["10.0.0.0/8", "jira.corp"]
    assert policy.timeout_seconds == 2.5
    assert policy.max_bytes == 1000


def test_default_policy_is_the_safe_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALLOW_PRIVATE", "ALLOW_HOSTS", "TIMEOUT_SECONDS", "MAX_BYTES"):
        monkeypatch.delenv(f"PRODUCTOPS_OUTBOUND_{name}", raising=False)
    policy = OutboundPolicy.from_settings(Settings())
    assert policy == OutboundPolicy()
    assert policy.allow_private is False
    assert policy.allow_hosts == []
    assert policy.max_bytes == 10 * 1024 * 1024


# --- sending ------------------------------------------------------------------------------


def test_allowed_local_server_answers_with_its_body(server: LocalServer) -> None:
    response = get(server.url("/hello"), policy=LOCAL)
    assert response.status_code == 200
    assert response.is_success
    assert response.content == b"hello from the test server"
    assert response.text == "hello from the test server"
    assert response.headers["content-type"] == "text/plain"
    assert response.url == server.url("/hello")


def test_local_server_is_refused_without_an_allowance(
    server: LocalServer, dialled: list[str]
) -> None:
    with pytest.raises(BlockedURL, match="loopback"):
        get(server.url("/hello"), policy=OutboundPolicy())
    assert server.seen == []
    assert dialled == []


def test_post_sends_json_and_params(server: LocalServer) -> None:
    response = post(server.url("/echo"), policy=LOCAL, json={"text": "shipped"}, params={"v": "1"})
    echo = response.json()
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"text": "shipped"}
    assert echo["headers"]["content-type"] == "application/json"
    assert response.url == server.url("/echo", v="1")


def test_non_json_body_asked_for_as_json_is_an_outbound_error(server: LocalServer) -> None:
    with pytest.raises(OutboundError, match="did not answer with JSON"):
        get(server.url("/hello"), policy=LOCAL).json()


def test_redirect_to_private_address_is_refused(server: LocalServer, dialled: list[str]) -> None:
    with pytest.raises(BlockedURL) as caught:
        get(server.url("/redirect", to="http://10.0.0.1/"), policy=LOCAL)
    assert "refusing http://10.0.0.1/: 10.0.0.1 is a private address" in str(caught.value)
    assert f"redirected from http://127.0.0.1:{server.port}/" in str(caught.value)
    assert [seen.path for seen in server.seen] == ["/redirect"]
    assert "10.0.0.1" not in dialled  # vetted before connecting, so never contacted
    assert set(dialled) == {"127.0.0.1"}


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "http://localhost/"]
)
def test_redirect_to_a_refused_target_is_refused(server: LocalServer, target: str) -> None:
    with pytest.raises(BlockedURL):
        get(server.url("/redirect", to=target), policy=LOCAL)


def test_redirect_within_allowed_hosts_is_followed(server: LocalServer) -> None:
    response = get(server.url("/redirect", to="/hello"), policy=LOCAL)
    assert response.content == b"hello from the test server"
    assert response.url == server.url("/hello")


@pytest.mark.parametrize(
    ("status", "method", "body"), [(302, "GET", ""), (303, "GET", ""), (307, "POST", '{"a":1}')]
)
def test_redirect_changes_method_like_a_browser(
    server: LocalServer, status: int, method: str, body: str
) -> None:
    url = server.url("/redirect", to="/echo", status=str(status))
    echo = post(url, policy=LOCAL, content='{"a":1}').json()
    assert (echo["method"], echo["body"]) == (method, body)


def test_cross_origin_redirect_drops_credentials(serve: Callable[..., LocalServer]) -> None:
    first, second = serve(), serve()
    url = first.url("/redirect", to=second.url("/echo"))
    headers = {"Authorization": "Bearer s3cret", "Cookie": "a=b", "X-Trace": "kept"}
    echo = get(url, policy=LOCAL, headers=headers).json()
    assert "authorization" not in echo["headers"]
    assert "cookie" not in echo["headers"]
    assert echo["headers"]["x-trace"] == "kept"
    assert echo["headers"]["host"] == f"127.0.0.1:{second.port}"
    assert first.seen[0].headers["authorization"] == "Bearer s3cret"


def test_too_many_redirects_are_an_outbound_error(server: LocalServer) -> None:
    policy = OutboundPolicy(allow_hosts=["127.0.0.1"], timeout_seconds=5, max_redirects=3)
    with pytest.raises(OutboundError, match="too many redirects"):
        get(server.url("/loop"), policy=policy)
    assert len(server.seen) == 4  # the first request and three redirects


@pytest.mark.parametrize("declare", ["1", "0"], ids=["declared-length", "streamed-until-close"])
def test_body_over_max_bytes_is_an_outbound_error(server: LocalServer, declare: str) -> None:
    policy = OutboundPolicy(allow_hosts=["127.0.0.1"], timeout_seconds=5, max_bytes=1000)
    with pytest.raises(OutboundError, match="more than the 1000-byte limit"):
        get(server.url("/big", n="200000", declare=declare), policy=policy)


def test_body_of_exactly_max_bytes_is_accepted(server: LocalServer) -> None:
    policy = OutboundPolicy(allow_hosts=["127.0.0.1"], timeout_seconds=5, max_bytes=1000)
    response = get(server.url("/big", n="1000", declare="0"), policy=policy)
    assert response.content == b"x" * 1000


def test_slow_server_times_out(server: LocalServer) -> None:
    policy = OutboundPolicy(allow_hosts=["127.0.0.1"], timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(OutboundError, match=r"timed out after 0\.3 s"):
        get(server.url("/slow"), policy=policy)
    assert time.monotonic() - started < 2


def test_connection_dials_the_vetted_address_not_a_second_dns_answer(
    server: LocalServer, fake_dns: FakeDNS, dialled: list[str]
) -> None:
    # A rebinding DNS server: vetted as 127.0.0.1, then answers 127.0.0.2 (nothing listens
    # there). Only the first answer may ever be used.
    fake_dns.add("rebind.example", "127.0.0.1")
    fake_dns.add("rebind.example", "127.0.0.2")
    response = get(server.url("/hello", host="rebind.example"), policy=LOCAL)
    assert response.content == b"hello from the test server"
    assert fake_dns.lookups.count("rebind.example") == 1
    assert dialled == ["127.0.0.1"]
    assert server.seen[0].headers["host"] == f"rebind.example:{server.port}"


@pytest.fixture
def tls_server(
    serve: Callable[..., LocalServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LocalServer:
    """An HTTPS server on 127.0.0.1 whose self-signed certificate names only tls.example."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=tls.example",
            "-addext",
            "subjectAltName=DNS:tls.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx trusts it as the only CA
    return serve(context)


def test_https_dials_the_vetted_address_but_verifies_the_host_name(
    tls_server: LocalServer, fake_dns: FakeDNS, dialled: list[str]
) -> None:
    fake_dns.add("tls.example", "127.0.0.1")
    response = get(tls_server.url("/hello", host="tls.example", scheme="https"), policy=LOCAL)
    assert response.content == b"hello from the test server"
    assert dialled == ["127.0.0.1"]


def test_https_certificate_for_another_name_is_an_outbound_error(
    tls_server: LocalServer, fake_dns: FakeDNS
) -> None:
    fake_dns.add("other.example", "127.0.0.1")
    with pytest.raises(OutboundError, match="CERTIFICATE_VERIFY_FAILED"):
        get(tls_server.url("/hello", host="other.example", scheme="https"), policy=LOCAL)
    assert tls_server.seen == []


# --- the shared list of SSRF targets ---------------------------------------------------------


def _ssrf_targets() -> list[Any]:
    if not SSRF_TARGETS.is_file():
        reason = f"{SSRF_TARGETS} is absent (a fresh clone has no ../shared/data/security/)"
        return [pytest.param("", marks=pytest.mark.skip(reason=reason), id="no-shared-data")]
    lines = SSRF_TARGETS.read_text(encoding="utf-8").splitlines()
    targets = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [pytest.param(target, id=target) for target in targets]


# The README: every target URL "must be refused at save, at test and at send, and after a
# redirect to it" -- so every entry is expected to be blocked.
@pytest.mark.parametrize("target", _ssrf_targets())
def test_every_shared_ssrf_target_is_refused_by_the_check(target: str) -> None:
    with pytest.raises(BlockedURL):
        check_url(target, OutboundPolicy())


@pytest.mark.parametrize("target", _ssrf_targets())
def test_every_shared_ssrf_target_is_refused_at_send(target: str, dialled: list[str]) -> None:
    with pytest.raises(BlockedURL):
        post(target, policy=OutboundPolicy(), json={"event": "test"})
    assert dialled == []


@pytest.mark.parametrize("target", _ssrf_targets())
def test_every_shared_ssrf_target_is_refused_after_a_redirect(
    target: str, server: LocalServer, fake_dns: FakeDNS
) -> None:
    # The test server is allowed by name, so its address 127.0.0.1 is not allowed for others.
    fake_dns.add("webhooks.example", "127.0.0.1")
    policy = OutboundPolicy(allow_hosts=["webhooks.example"], timeout_seconds=5)
    with pytest.raises(BlockedURL):
        get(server.url("/redirect", host="webhooks.example", to=target), policy=policy)
    assert [seen.path for seen in server.seen] == ["/redirect"]
