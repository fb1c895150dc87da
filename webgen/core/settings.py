"""One settings object: defaults in code, then a TOML/YAML file, then WEBGEN_* environment variables.

The file is the one `Settings.load(config)` names, else $WEBGEN_CONFIG's. Settings are frozen once loaded:
:meth:`Settings.updated` (or ``model_copy(update=...)``) makes a changed copy.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

CONFIG_ENV = "WEBGEN_CONFIG"
#: The config file of the `Settings.load` call in progress (it takes the place of $WEBGEN_CONFIG).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("webgen_config_file", default=None)


def default_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "webgen"


class ModelEndpoint(BaseModel):
    """An OpenAI-compatible chat endpoint for one role (vLLM, SGLang, llama.cpp, Ollama, OpenAI...).

    With the defaults a dead endpoint (refused, DNS, reset) fails in about 2 s (3 attempts), a hung one
    after one ``timeout_s`` (300 s), and a flaky one (429 / 5xx / a malformed body) after 4 attempts;
    see :mod:`webgen.core.llm`.
    """

    model_config = ConfigDict(frozen=True)

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "default"
    api_key: SecretStr = Field(default=SecretStr("sk-local"), description="only from env; never stored")
    timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="seconds one request may run (read/write) before it counts as a timeout; a 7B-32B model "
        "writing a multi-file site takes minutes",
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="seconds to open the connection")
    max_retries: int = Field(
        default=3,
        ge=0,
        description="retries after HTTP 429/5xx or a malformed 2xx body (backoff 0.5s doubling to 8s, Retry-After "
        "honoured)",
    )
    connect_retries: int = Field(
        default=2,
        ge=0,
        description="retries when nothing answers (refused, DNS, reset, connect timeout), backoff at most 1s: "
        "a dead endpoint fails in seconds",
    )
    timeout_retries: int = Field(
        default=0,
        ge=0,
        description="retries after a request timed out; each can cost timeout_s again (the agent loop already "
        "restarts a failed step)",
    )

    def public(self) -> dict[str, Any]:
        """What may be stored with a run: everything but the key."""
        return self.model_dump(exclude={"api_key"})


class SiteSettings(BaseModel):
    """Limits of the site environment (build, serve, render)."""

    model_config = ConfigDict(frozen=True)

    build_timeout_s: float = 60.0
    deps_timeout_s: float = Field(
        default=300.0, description="the longest one install of a site's own packages may take (npm, in seconds)"
    )
    deps_max_mb: int = Field(
        default=800, description="the most disk one install of a site's own packages may take (MB); cached by set"
    )
    serve_timeout_s: float = 10.0
    page_timeout_s: float = 15.0
    # caps how long a route waits to be ready (max(4×settle_ms, 1 s)): fonts loaded, two frames painted,
    # no request in flight; it is not a fixed pause
    settle_ms: int = 100
    intro_wait_s: float = Field(
        default=2.5, description="how long a first page that shows almost nothing (an intro loader) is waited for"
    )
    max_routes: int = 8
    viewport_width: int = 1024
    viewport_height: int = 768
    full_page: bool = True
    full_page_max_height: int = 6000
    typecheck: bool = False
    page_memory_mb: int = Field(
        default=1024,
        description="a page's JavaScript heap cap (V8); its renderer process is stopped above 1.5x this much memory",
    )


class AgentSettings(BaseModel):
    """The agent loop (ARCHITECTURE §4) and the single-shot reward (§6)."""

    model_config = ConfigDict(frozen=True)

    max_steps: int = Field(default=20, ge=1)
    error_limit: int = Field(default=5, ge=1, description="consecutive error steps before backtracking")
    restart_limit: int = Field(
        default=2,
        ge=0,
        description="failed calls in a row to one role's endpoint (coder, judge or GUI agent) that the run absorbs; "
        "one more fails the run, naming the endpoint (each call has already had the client's retries)",
    )
    run_timeout_s: float = Field(
        default=7200.0, gt=0, description="wall-clock limit of one invocation of a run (a resume gets a new one)"
    )
    good_score: float = Field(default=3.0, description="screenshot score at least this (and no error) is good")
    context_tokens: int = Field(default=32_000, description="prompt budget; old feedback is truncated first")
    token_budget: int | None = Field(default=None, description="tokens a run may spend over all roles")
    coder_temperature: float = 0.5
    coder_max_tokens: int | None = None
    gui_agent: Literal["webvoyager", "browser-use"] = "webvoyager"
    gui_max_steps: int = 15
    gui_timeout_s: float = 300.0
    gui_waits: dict[str, float] | None = Field(
        default=None, description="WebVoyager pauses after actions (click, type, scroll, wait, goback); None: published"
    )
    judge_max_images: int = 3
    reward_gamma: float = 0.1
    reward_lambda: float = 0.1
    reward_psi_static: float = 0.0
    reward_psi_build: float = 0.0


def _with_changes(model: BaseModel, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(type(model).model_fields))
    if unknown:
        raise ValueError(f"{type(model).__name__} has no field {', '.join(unknown)}")
    return {**dict(model), **changes}


class Settings(BaseSettings):
    """Resolved configuration; `Settings.load()` is the one way the CLI builds it."""

    model_config = SettingsConfigDict(env_prefix="WEBGEN_", env_nested_delimiter="__", extra="ignore", frozen=True)

    home: Path = Field(default_factory=default_home, description="caches: scaffold node_modules, sites, blobs")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite under home")
    checkpoint_url: str | None = Field(
        default=None,
        description="LangGraph checkpoints: a postgresql:// or sqlite:///PATH URL, else the database's when it is "
        "Postgres, else sqlite under home",
    )
    scaffold: str = "react18-v1"
    chromium_path: Path = Path("/usr/bin/chromium")
    node_path: str = "node"
    npm_path: str = "npm"
    coder: ModelEndpoint = Field(default_factory=ModelEndpoint)
    judge: ModelEndpoint = Field(default_factory=ModelEndpoint)
    gui: ModelEndpoint = Field(default_factory=ModelEndpoint)
    site: SiteSettings = Field(default_factory=SiteSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        chosen = _CONFIG_FILE.get()
        path, named = (str(chosen), f"config file {chosen}") if chosen is not None else (os.environ.get(CONFIG_ENV), "")
        if path:
            named = named or f"{CONFIG_ENV}={path}"
            config = Path(path).expanduser()
            if not config.is_file():
                raise FileNotFoundError(f"{named}: no such config file")
            if config.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
            elif config.suffix in {".yaml", ".yml"}:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config))
            else:
                raise ValueError(f"{named}: config files must end in .toml, .yaml or .yml")
        return tuple(sources)

    @classmethod
    def load(cls, config: Path | None = None, **overrides: Any) -> Settings:
        """Build settings; `config` takes the place of $WEBGEN_CONFIG for this call (the environment is untouched)."""
        token = _CONFIG_FILE.set(Path(config) if config is not None else None)
        try:
            return cls(**overrides)
        finally:
            _CONFIG_FILE.reset(token)

    def updated(self, **changes: Any) -> Settings:
        """A validated copy with `changes`; a dict for a section (``site={...}``) changes the keys it names only.

        The environment and the config file are not read again. An unknown name is a ValueError.
        """
        values = _with_changes(self, changes)
        for key, value in changes.items():
            section = getattr(self, key)
            if isinstance(value, dict) and isinstance(section, BaseModel):
                values[key] = _with_changes(section, value)
        return type(self).model_validate(values)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'webgen.db'}"

    def public(self) -> dict[str, Any]:
        """The resolved config as stored with a run: secrets left out."""
        data = self.model_dump(mode="json", exclude={"coder", "judge", "gui"})
        data.update({role: getattr(self, role).public() for role in ("coder", "judge", "gui")})
        return data
