"""The one way productops makes outbound HTTP requests: webhooks, Jira/Linear, Slack.

Every hop is vetted by `check_url` before it is contacted: only http and https, and no
loopback, private, link-local, shared, reserved or cloud-metadata address unless the operator
allowed it. Redirects are followed by hand so each hop is vetted again, the connection dials
the very address that was vetted (no second DNS answer for a rebinding attacker to slip in),
and bodies and wall time are capped.

Error messages show only `scheme://host:port/`: paths and queries of webhook URLs carry secrets.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from productops.core.errors import BlockedURL, OutboundError, SettingsError

if TYPE_CHECKING:
    from productops.core.settings import Settings

__all__ = [
    "OutboundPolicy",
    "OutboundResponse",
    "UnsupportedURL",
    "check_url",
    "get",
    "post",
    "request",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Instance-metadata endpoints: refused even with allow_private; only allow_hosts opens them.
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Headers that must not follow a redirect to another origin.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
BODY_HEADERS = ("content-length", "content-type", "transfer-encoding")


class UnsupportedURL(BlockedURL, OutboundError):
    """Not a valid http(s) URL: refused like a blocked target, and an outbound error too."""


@dataclass
class OutboundPolicy:
    """What outbound requests may reach, and how long and how large they may be.

    `allow_private` opens loopback/private/link-local/... addresses (tests, on-prem) but not
    cloud metadata; `allow_hosts` lists host names (trusted whatever they resolve to) or
    IPs/CIDRs that are allowed even though private. `timeout_seconds` bounds every connect
    and read and the whole exchange including redirects.
    """

    allow_private: bool = False
    allow_hosts: list[str] = field(default_factory=list)
    timeout_seconds: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise SettingsError("outbound timeout_seconds must be positive")
        if self.max_bytes <= 0:
            raise SettingsError("outbound max_bytes must be positive")
        if self.max_redirects < 0:
            raise SettingsError("outbound max_redirects must not be negative")
        _allow_rules(self)  # refuse a malformed allow_hosts entry now, not at the first send

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy an operator configured in productops.toml / PRODUCTOPS_* variables."""
        return cls(
            allow_private=settings.outbound_allow_private,
            allow_hosts=list(settings.outbound_allow_hosts),
            timeout_seconds=settings.outbound_timeout_seconds,
            max_bytes=settings.outbound_max_bytes,
        )


@dataclass(frozen=True)
class OutboundResponse:
    """A fully read response; `url` is the final one after redirects."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    encoding: str = "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with the response's charset (UTF-8 when it names none)."""
        return self.content.decode(self.encoding, errors="replace")

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        """The body parsed as JSON; OutboundError when it is not JSON."""
        try:
            return jsonlib.loads(self.content)
        except ValueError as exc:
            raise OutboundError(f"{_shown(httpx.URL(self.url))} did not answer with JSON") from exc


def check_url(url: str | httpx.URL, policy: OutboundPolicy) -> list[IPAddress]:
    """Vet `url` and return the addresses it resolves to, all of which the policy allows.

    Raises UnsupportedURL for anything but a valid http(s) URL, BlockedURL when the host is or
    resolves to a refused address, and OutboundError when the host name does not resolve.
    """
    return _vet(_parse(url), policy)[1]


def request(
    method: str,
    url: str | httpx.URL,
    *,
    policy: OutboundPolicy,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | str | None = None,
    params: Mapping[str, Any] | None = None,
) -> OutboundResponse:
    """Send one request, vetting every redirect hop, and return the fully read response.

    Raises BlockedURL (or UnsupportedURL) for a refused hop, OutboundError for timeouts, bodies
    over `policy.max_bytes`, more than `policy.max_redirects` redirects and network failures.
    """
    deadline = time.monotonic() + policy.timeout_seconds
    backend = _PinnedBackend()
    sent_headers = httpx.Headers(headers)
    # Only identity bodies: a compressed body could inflate far past max_bytes in one chunk.
    sent_headers.setdefault("accept-encoding", "identity")
    with httpx.Client(
        transport=_pinned_transport(backend),
        follow_redirects=False,
        trust_env=False,  # an environment proxy would dial names the guard never vetted
    ) as client:
        req = client.build_request(
            method.upper(),
            _parse(url),
            headers=sent_headers,
            json=json,
            content=content,
            params=params,
        )
        redirects = 0
        previous: str | None = None
        while True:
            try:
                host, addresses = _vet(req.url, policy)
            except BlockedURL as exc:
                if previous is None:
                    raise
                raise type(exc)(f"{exc} (redirected from {previous})") from None
            backend.pin(host, addresses)
            req.extensions["timeout"] = httpx.Timeout(
                _remaining(deadline, req.url, policy)
            ).as_dict()
            response = _send(client, req, policy)
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                try:
                    body = _read_capped(response, policy, deadline)
                finally:
                    response.close()
                return OutboundResponse(
                    status_code=response.status_code,
                    headers=response.headers,
                    content=body,
                    url=str(req.url),
                    encoding=response.encoding or "utf-8",
                )
            response.close()
            if redirects >= policy.max_redirects:
                raise OutboundError(
                    f"too many redirects: {_shown(req.url)} redirected again after "
                    f"{policy.max_redirects}"
                )
            redirects += 1
            previous = _shown(req.url)
            req = _redirect_request(client, req, response.status_code, location)


def get(url: str | httpx.URL, *, policy: OutboundPolicy, **kw: Any) -> OutboundResponse:
    """`request("GET", url, policy=policy, ...)`."""
    return request("GET", url, policy=policy, **kw)


def post(url: str | httpx.URL, *, policy: OutboundPolicy, **kw: Any) -> OutboundResponse:
    """`request("POST", url, policy=policy, ...)`."""
    return request("POST", url, policy=policy, **kw)


# --- vetting -----------------------------------------------------------------------------


def _parse(url: str | httpx.URL) -> httpx.URL:
    if isinstance(url, httpx.URL):
        parsed = url
    else:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            shown = url.split("?", 1)[0].split("#", 1)[0][:200]
            raise UnsupportedURL(f"refusing {shown}: not a valid URL ({exc})") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        scheme = parsed.scheme or "scheme-less"
        raise UnsupportedURL(f"refusing {scheme}:// URL: only http and https URLs are allowed")
    if not parsed.raw_host:
        raise UnsupportedURL(f"refusing {parsed.scheme}:// URL without a host")
    return parsed


def _shown(url: httpx.URL) -> str:
    """scheme://host:port/ — never userinfo, path or query, which may hold secrets."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}/"


def _vet(url: httpx.URL, policy: OutboundPolicy) -> tuple[str, list[IPAddress]]:
    """(the host name httpcore will dial, its vetted addresses); raises when refused."""
    url = _parse(url)
    host = url.raw_host.decode("ascii")  # IDNA-encoded, lower case, IPv6 without brackets
    name = host.rstrip(".")
    shown = _shown(url)
    names, networks = _allow_rules(policy)
    trusted = name in names or url.host.rstrip(".") in names
    literal = _ip_literal(host)
    if literal is None and not trusted:
        if name in METADATA_HOSTS:
            raise BlockedURL(f"refusing {shown}: {name} is a cloud metadata host name")
        if name == "localhost" or name.endswith(".localhost"):
            raise BlockedURL(f"refusing {shown}: {name} is a loopback host name")
    addresses = [literal] if literal is not None else _resolve(host, url.port, url)
    if not trusted:
        for ip in addresses:
            reason = _refusal(ip, policy, networks)
            if reason is not None:
                subject = host if literal is not None else f"{host} resolves to {ip}, which"
                raise BlockedURL(f"refusing {shown}: {subject} is {reason}")
    return host, addresses


def _allow_rules(policy: OutboundPolicy) -> tuple[frozenset[str], list[IPNetwork]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in policy.allow_hosts:
        text = entry.strip().lower()
        try:
            networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
        except ValueError:
            if "/" in text or not text:
                raise SettingsError(
                    f"outbound_allow_hosts: {entry!r} is neither a host name nor a CIDR"
                ) from None
            names.add(text.rstrip("."))
    return frozenset(names), networks


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int | None, url: httpx.URL) -> list[IPAddress]:
    """Every address `host` resolves to; getaddrinfo also decodes 2130706433, 0x7f.1, 127.1."""
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundError(f"cannot reach {_shown(url)}: {host} does not resolve ({exc})") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundError(f"cannot reach {_shown(url)}: {host} has no address")
    return addresses


def _refusal(ip: IPAddress, policy: OutboundPolicy, networks: list[IPNetwork]) -> str | None:
    """Why `ip` is refused (phrased to follow "X is"), or None when it may be contacted."""
    if _within(ip, networks):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, v4 = embedded
            inner = _refusal(v4, policy, networks)
            if inner is not None:
                return f"{form} of {v4}, which is {inner}"
            if form != "an IPv4-compatible form":
                return None  # mapped, NAT64 and 6to4 forms reach the (public) IPv4 address
    kind = _address_kind(ip)
    if kind is None or (policy.allow_private and ip not in METADATA_ADDRESSES):
        return None
    return kind


def _within(ip: IPAddress, networks: list[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped form", ip.ipv4_mapped
    if ip in NAT64_PREFIX:
        return "a NAT64 form", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "a 6to4 form", ip.sixtofour
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return "an IPv4-compatible form", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_kind(ip: IPAddress) -> str | None:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


# --- sending -----------------------------------------------------------------------------


# Pinning over re-checking the peer: dialling the vetted IP needs no second DNS lookup at all,
# while httpcore still uses the URL's host name for SNI and certificate checks.
class _PinnedBackend(httpcore.NetworkBackend):
    """Dials only the addresses `check_url` vetted for a host; never resolves names itself."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._pins: dict[str, list[IPAddress]] = {}

    def pin(self, host: str, addresses: list[IPAddress]) -> None:
        self._pins[host] = addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get(host)
        if not addresses:
            raise BlockedURL(f"refusing to connect to {host}: it was not vetted")
        options = list(socket_options or ())
        error: httpcore.ConnectError | None = None
        for ip in addresses:
            try:
                return self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except httpcore.ConnectError as exc:  # refused or unreachable: try the next one
                error = exc
        assert error is not None
        raise error


_SSL_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every request: loading the CA bundle costs ~25 ms, which
    a sync of hundreds of pages would otherwise pay on each (a context is safe to share). It is
    made again when SSL_CERT_FILE or SSL_CERT_DIR (the CAs httpx trusts) name other files."""
    source = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(source)
        if context is None:
            context = _SSL_CONTEXTS[source] = httpx.create_ssl_context()
        return context


def _pinned_transport(backend: _PinnedBackend) -> httpx.HTTPTransport:
    context = _ssl_context()
    transport = httpx.HTTPTransport(verify=context)
    # httpx offers no public hook for the network backend: swap in a pool that dials through it.
    transport._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=backend)
    return transport


def _remaining(deadline: float, url: httpx.URL, policy: OutboundPolicy) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(url, policy)
    return left


def _timed_out(url: httpx.URL, policy: OutboundPolicy) -> OutboundError:
    return OutboundError(f"timed out after {policy.timeout_seconds:g} s waiting for {_shown(url)}")


def _send(client: httpx.Client, req: httpx.Request, policy: OutboundPolicy) -> httpx.Response:
    try:
        return client.send(req, stream=True)
    except httpx.TimeoutException as exc:
        raise _timed_out(req.url, policy) from exc
    except httpx.HTTPError as exc:
        raise OutboundError(f"request to {_shown(req.url)} failed: {exc}") from exc


def _read_capped(response: httpx.Response, policy: OutboundPolicy, deadline: float) -> bytes:
    url = response.request.url
    too_large = f"{_shown(url)} sent more than the {policy.max_bytes}-byte limit"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise OutboundError(f"{too_large} (Content-Length {declared})")
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > policy.max_bytes:
                raise OutboundError(too_large)
            chunks.append(chunk)
            _remaining(deadline, url, policy)  # a slow drip must not outlast the timeout
    except httpx.TimeoutException as exc:
        raise _timed_out(url, policy) from exc
    except httpx.HTTPError as exc:
        raise OutboundError(f"reading the answer from {_shown(url)} failed: {exc}") from exc
    return b"".join(chunks)


def _redirect_request(
    client: httpx.Client, req: httpx.Request, status: int, location: str
) -> httpx.Request:
    """The next hop, as a browser would follow it; vetted again before it is sent."""
    try:
        target = req.url.join(location)
    except httpx.InvalidURL as exc:
        raise UnsupportedURL(
            f"refusing redirect from {_shown(req.url)}: bad Location ({exc})"
        ) from None
    method = req.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    headers = httpx.Headers(req.headers)
    headers.pop("host", None)
    if (target.scheme, target.host, target.port) != (req.url.scheme, req.url.host, req.url.port):
        for name in CREDENTIAL_HEADERS:
            headers.pop(name, None)
    body: bytes | None = None
    if method == req.method and status in (307, 308):
        body = req.content
    else:
        for name in BODY_HEADERS:
            headers.pop(name, None)
    return client.build_request(method, target, headers=headers, content=body)
