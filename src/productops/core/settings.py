"""Settings: `productops.toml` in the workspace, overridden by `PRODUCTOPS_*` variables."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from productops.core.errors import SettingsError

SETTINGS_FILE = "productops.toml"
DEFAULT_SECRET_KEY = "change-me-productops-default-secret"  # noqa: S105 - the sentinel we refuse


class Settings(BaseSettings):
    """Everything an operator can set. Unknown keys in the file are refused."""

    model_config = SettingsConfigDict(
        env_prefix="PRODUCTOPS_",
        extra="forbid",
        toml_file=None,
    )

    workspace: Path = Field(default=Path(), description="The workspace folder.")
    name: str = Field(default="productops", description="Shown in the page header.")
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY,
        description="Keys the stored hashes of session tokens (rotating it signs everyone "
        "out). `init` writes a random one; serving beyond loopback refuses the default.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the app database; empty means SQLite in the workspace.",
    )
    events_path: str = Field(
        default="events.duckdb", description="DuckDB event store, relative to the workspace."
    )
    warehouse_url: str = Field(
        default="",
        description="Run analyses and metrics on this Ibis backend URL (postgres://…, "
        "clickhouse://…, bigquery://…, duckdb:///file) instead of the embedded event store.",
    )
    warehouse_mapping: str = Field(
        default="warehouse.yml",
        description="YAML file (relative to the workspace) mapping the warehouse's tables "
        "and columns; see docs/scale.md.",
    )
    session_max_age_hours: int = Field(default=24 * 14, ge=1)
    cookie_secure: bool = Field(
        default=False, description="Send cookies only over HTTPS (turn on behind TLS)."
    )
    login_max_failures: int = Field(default=5, ge=1, description="Failures per email per window.")
    login_window_seconds: int = Field(default=900, ge=1)
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

    @property
    def secret_is_default(self) -> bool:
        return self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 16

    @property
    def sqlite_path(self) -> Path:
        return self.workspace / "productops.db"

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def events_file(self) -> Path:
        p = Path(self.events_path)
        return p if p.is_absolute() else self.workspace / p

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


def load_settings(workspace: Path, **overrides: Any) -> Settings:
    """Read `productops.toml` from `workspace`; environment variables win over the file."""
    workspace = workspace.resolve()
    toml_path = workspace / SETTINGS_FILE
    if not toml_path.is_file():
        raise SettingsError(f"{toml_path} does not exist: run `productops init {workspace}` first")

    class WorkspaceSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_path)

    try:
        return WorkspaceSettings(workspace=workspace, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"{toml_path}: {problems}") from exc


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


def check_safe_to_serve(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine while the secret key is the default."""
    if settings.secret_is_default and not is_loopback_host(host):
        raise SettingsError(
            f"refusing to serve on {host}: the secret key is the default. Set `secret_key` "
            "in productops.toml or PRODUCTOPS_SECRET_KEY (at least 16 characters)."
        )
