"""A small client of a marketplace server's submissions API, for the command line.

``market_submit`` and ``market_status`` use it from a modder's machine or CI: it
uploads bundles and reads submissions over HTTP with ``httpx`` (timeouts always on),
and turns every refusal into a :class:`RemoteError` carrying the server's own error
code. No Django: it talks to a server, it does not run one.

Where the server and token come from, first found wins:

1. ``--server`` / ``--token-file`` on the command line;
2. the environment: ``COMFYVN_MARKET_SERVER``, ``COMFYVN_MARKET_TOKEN``;
3. the config file ``$COMFYVN_MARKET_CONFIG``, else
   ``~/.config/comfyvn-market/config.json``: ``{"server": URL, "token": KEY}``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from market.errors import MarketError

API_PREFIX = "api/market/"
SERVER_ENV = "COMFYVN_MARKET_SERVER"
TOKEN_ENV = "COMFYVN_MARKET_TOKEN"  # noqa: S105 (a variable name, not a secret)
CONFIG_ENV = "COMFYVN_MARKET_CONFIG"
DEFAULT_CONFIG = Path("~/.config/comfyvn-market/config.json")
CONNECT_TIMEOUT = 10.0
# An upload is checked in full before the server answers: give it time.
READ_TIMEOUT = 120.0
USER_AGENT = "comfyvn-market-cli"


class RemoteError(MarketError):
    """The server refused (its error code is kept) or could not be reached."""

    code = "remote_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str
    # Where the token came from, to say so when the server refuses it.
    token_source: str
    warnings: tuple[str, ...] = ()


def _read_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        raw = path.read_text(encoding="utf-8")
        info = path.stat()
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as exc:
        raise RemoteError(
            f"cannot read the config file {path}: {exc}", code="config_invalid"
        ) from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RemoteError(
            f"the config file {path} is not valid JSON: {exc.msg} (line {exc.lineno})",
            code="config_invalid",
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key, ""), str) for key in ("server", "token")
    ):
        raise RemoteError(
            f'the config file {path} must be a JSON object {{"server": URL, '
            '"token": KEY}} with string values',
            code="config_invalid",
        )
    warnings = []
    if data.get("token") and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"{path} holds a token and is readable by other users; "
            f"run: chmod 600 {path}"
        )
    return data, warnings


def load_config(
    *,
    server: str | None = None,
    token_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """The server and token to use, from flags, the environment or the config file."""
    env = os.environ if environ is None else environ
    path = Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()
    data, warnings = _read_config(path)
    server = server or env.get(SERVER_ENV) or data.get("server") or ""
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise RemoteError(
                f"cannot read the token file {token_file}: {exc}",
                code="config_invalid",
            ) from exc
        source = f"--token-file {token_file}"
    elif env.get(TOKEN_ENV):
        token, source = env[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        token, source = str(data.get("token") or "").strip(), str(path)
    if not server:
        raise RemoteError(
            f"no server: pass --server URL, set {SERVER_ENV}, or put "
            f'{{"server": URL}} in {path}',
            code="config_invalid",
        )
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RemoteError(
            f"the server must be an http(s) URL such as http://127.0.0.1:8000, "
            f"not {server!r}",
            code="config_invalid",
        )
    if not token:
        raise RemoteError(
            f"no API token: set {TOKEN_ENV}, pass --token-file FILE, or put "
            f'{{"token": KEY}} in {path} (an operator creates one with '
            "`manage.py market_user create NAME --role modder`)",
            code="config_invalid",
        )
    return ClientConfig(
        server=server.rstrip("/") + "/",
        token=token,
        token_source=source,
        warnings=tuple(warnings),
    )


class MarketClient:
    """Calls ``<server>/api/market/...`` with the token; one refusal shape."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = READ_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.http = httpx.Client(
            base_url=urljoin(config.server, API_PREFIX),
            headers={
                "Authorization": f"Token {config.token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            follow_redirects=False,
            transport=transport,
        )

    def __enter__(self) -> MarketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return urljoin(self.config.server, API_PREFIX + path)

    def submit(self, bundle: Path) -> dict[str, Any]:
        """Upload ``bundle`` for review: the server's ``submission`` object."""
        with bundle.open("rb") as fh:
            files = {"package": (bundle.name, fh, "application/zip")}
            body = self._call("POST", "submissions/", files=files)
        return dict(body["submission"])

    def submissions(self, *, limit: int = 200) -> tuple[list[dict[str, Any]], int]:
        """The caller's submissions, newest first (at most ``limit``), and the total."""
        body = self._call("GET", "submissions/", params={"page_size": min(limit, 200)})
        items = [dict(item) for item in body.get("items", [])][:limit]
        return items, int(body.get("count", len(items)))

    def submission(self, number: int) -> dict[str, Any]:
        return dict(self._call("GET", f"submissions/{number}/"))

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RemoteError(
                f"{self.config.server} did not answer within the timeout "
                f"({exc.__class__.__name__})",
                code="server_timeout",
            ) from exc
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"cannot reach {self.config.server}: {exc}", code="server_unreachable"
            ) from exc
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RemoteError(
                f"{self.url(path)} answered HTTP {response.status_code} without the "
                "marketplace's JSON; is --server the marketplace's address?",
                code="bad_response",
                status=response.status_code,
            )
        if response.is_success and body.get("ok") is not False:
            return body
        error: dict[str, Any] = (
            body["error"] if isinstance(body.get("error"), dict) else {}
        )
        code = str(error.get("code") or "server_error")
        message = str(error.get("message") or f"HTTP {response.status_code}")
        if code == "not_authenticated":
            message += f" (token from {self.config.token_source})"
        raise RemoteError(
            message,
            code=code,
            details=error.get("details") or {},
            status=response.status_code,
        )
