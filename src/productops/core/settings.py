"""Settings: `productops.toml` in the workspace, overridden by `PRODUCTOPS_*` variables.

The house's own settings are top-level keys. Each pillar brings a section of its own
(`[analytics]`, …): the `Section` model in its `settings` module, found through the pillar
contract. A section key is overridden by `PRODUCTOPS_<PILLAR>__<KEY>`.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from productops.core.errors import SettingsError

SETTINGS_FILE = "productops.toml"
DEFAULT_SECRET_KEY = "change-me-productops-default-secret"  # noqa: S105 - the sentinel we refuse
# A served secret key needs this much estimated entropy and this many different characters
# (a hex key has 16 at most, and a random 32-character one rarely shows fewer than 12).
MIN_SECRET_BITS = 64
MIN_SECRET_DISTINCT = 10
MAKE_SECRET_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

S = TypeVar("S", bound=BaseModel)


class PillarSection(BaseModel):
    """Base of a pillar's settings section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class Settings(BaseSettings):
    """Everything an operator can set. Unknown keys in the file are refused."""

    model_config = SettingsConfigDict(
        env_prefix="PRODUCTOPS_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    workspace: Path = Field(default=Path(), description="The workspace folder.")
    name: str = Field(default="productops", description="Shown in the page header.")
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY,
        description="Keys the stored hashes of session tokens (rotating it signs everyone "
        "out). `init` writes a random one; serving beyond loopback refuses the default and "
        "keys that are easy to guess.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the app database; empty means SQLite in the workspace.",
    )
    session_max_age_hours: int = Field(default=24 * 14, ge=1)
    cookie_secure: bool = Field(
        default=False,
        description="Send cookies only over HTTPS. Without it they are still `Secure` on "
        "requests that came over HTTPS (directly or through a trusted proxy).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDRs of the reverse proxies in front of productops. Only "
        "from them are `X-Forwarded-For` (the client's address) and `X-Forwarded-Proto` "
        "(HTTPS) believed.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins for one email from one address before each further "
        "attempt waits (1, 2, 4, … seconds).",
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="How long a failed sign-in counts towards the delays."
    )
    login_max_delay_seconds: int = Field(
        default=60,
        ge=1,
        description="The longest a sign-in waits after failures (the cap of the growing delay).",
    )
    outbound_allow_private: bool = Field(
        default=False,
        description="Allow outbound requests to loopback/private addresses (tests, on-prem).",
    )
    outbound_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or CIDRs allowed even though they are private.",
    )
    outbound_timeout_seconds: float = Field(default=10.0, gt=0)
    outbound_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    run_worker: bool = Field(default=True, description="Run the job worker inside `serve`.")

    @field_validator("secret_key")
    @classmethod
    def _secret_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("secret_key must not be empty")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or CIDR") from None
        return [entry.strip() for entry in v]

    @property
    def secret_is_default(self) -> bool:
        return self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 16

    @property
    def secret_weakness(self) -> str | None:
        """Why the secret key must not guard a server reachable from elsewhere, or None."""
        if self.secret_key == DEFAULT_SECRET_KEY:
            return "the secret key is the default"
        bits = estimated_entropy_bits(self.secret_key)
        distinct = len(set(self.secret_key))
        if len(self.secret_key) < 16 or distinct < MIN_SECRET_DISTINCT or bits < MIN_SECRET_BITS:
            return (
                f"the secret key is too easy to guess ({len(self.secret_key)} characters, "
                f"{distinct} different, about {bits:.0f} bits; at least {MIN_SECRET_BITS} "
                "are needed)"
            )
        return None

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return _networks(tuple(self.trusted_proxies))

    @property
    def sqlite_path(self) -> Path:
        return self.workspace / "productops.db"

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def path(self, value: str | Path) -> Path:
        """A path setting: relative ones are inside the workspace folder."""
        p = Path(value)
        return p if p.is_absolute() else self.workspace / p

    def section(self, name: str, model: type[S]) -> S:
        """A pillar's settings section, typed (`settings.section("analytics", Section)`)."""
        value = getattr(self, name, None)
        if value is None:
            # The pillar is not in DOMAINS of this process: its defaults.
            return model()
        if not isinstance(value, model):
            raise SettingsError(f"settings section [{name}] is not a {model.__name__}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments win, then PRODUCTOPS_* variables, then the workspace file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def sections() -> dict[str, type[BaseModel]]:
    """Each pillar's settings section model, by pillar name."""
    from productops.core import pillars

    found: dict[str, type[BaseModel]] = {}
    for pillar, module in pillars.parts("settings"):
        model = getattr(module, "Section", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise SettingsError(f"{module.__name__} must define `Section`, a pydantic model")
        if pillar.name in Settings.model_fields:
            raise SettingsError(f"pillar {pillar.name} clashes with the setting of that name")
        found[pillar.name] = model
    return found


@cache
def _settings_class(key: tuple[tuple[str, type[BaseModel]], ...]) -> type[Settings]:
    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model, description=model.__doc__ or name))
        for name, model in key
    }
    model: type[Settings] = create_model("WorkspaceSettings", __base__=Settings, **fields)
    return model


def settings_class() -> type[Settings]:
    """`Settings` with a field for every pillar's section."""
    return _settings_class(tuple(sections().items()))


def load_settings(workspace: Path, **overrides: Any) -> Settings:
    """Read `productops.toml` from `workspace`; environment variables win over the file."""
    workspace = workspace.resolve()
    toml_path = workspace / SETTINGS_FILE
    if not toml_path.is_file():
        raise SettingsError(f"{toml_path} does not exist: run `productops init {workspace}` first")
    base = settings_class()

    class WorkspaceSettings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(toml_file=toml_path)

    try:
        loaded: Settings = WorkspaceSettings(workspace=workspace, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"{toml_path}: {problems}") from exc
    return loaded


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def is_loopback_host(host: str) -> bool:
    """True for addresses that only this machine can reach."""
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def estimated_entropy_bits(secret: str) -> float:
    """A rough upper bound of a secret's strength: its length times the Shannon entropy of
    its characters. `aaaa…` scores 0; `secrets.token_urlsafe(48)` about 330."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def check_safe_to_serve(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine while the secret key is the default or weak."""
    weakness = settings.secret_weakness
    if weakness is not None and not is_loopback_host(host):
        raise SettingsError(
            f"refusing to serve on {host}: {weakness}. Set `secret_key` in productops.toml "
            "or PRODUCTOPS_SECRET_KEY to a random one, made with: "
            f"{MAKE_SECRET_COMMAND}"
        )


@cache
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)
