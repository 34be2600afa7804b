"""A demo server for the docs' examples, set up the way ``scripts/demo.sh`` sets one up
(migrate, collectstatic, ``market_demo --env-file var/demo.env``, ``runserver``), but in
a temporary copy of the project's layout and on a free port.

The project folder holds links to the repository's files and its own ``var/`` (the
demo's ``MARKET_ROOT``: SQLite database, bundles, keys, logs), so a doc's
``.venv/bin/python manage.py ...`` and ``var/packages/...`` work as they do after
``demo.sh``. Each doc file starts from the demo's state as ``market_demo`` left it.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.docs.blocks import REPO, Block, output_matches, render

# What the shell examples may not inherit from the test run: settings of the test
# database and cache, pytest-django's settings module, the user's client config.
_DROP = ("DJANGO_", "DATABASE_URL", "CACHE_URL", "MARKET_", "COMFYVN_", "LOG_LEVEL")
_NOT_LINKED = {".git", ".env", "var", "tmp_pkg", ".pytest_cache", ".mypy_cache"}
DOCS_URL = "http://127.0.0.1:8000"  # where the docs' demo server listens
_STEP = re.compile(r"\n?@@docs-step (\d+) (\d+)@@\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            values[name] = shlex.split(value)[0] if value else ""
    return values


@dataclass
class StepResult:
    index: int
    status: int | None  # None: the block stopped before this step finished
    output: str


class DemoServer:
    """The demo, once per test session; ``reset()`` restores the state ``market_demo``
    left for the next doc file and restarts the server."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.project = base / "comfyvn-market"
        self.scratch = base / "scratch"  # what the docs call /tmp
        self.home = base / "home"
        self.pristine = base / "pristine-var"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}
        self.demo_env: dict[str, str] = {}
        self.demo_output = ""
        self.fresh = False  # the state market_demo left, nothing run since
        self.process: subprocess.Popen[bytes] | None = None
        # The doc and index of the last block run since the state was restored.
        self.current: tuple[Path | None, int] = (None, -1)

    # -- set-up -------------------------------------------------------------------
    def setup(self) -> None:
        self.project.mkdir(parents=True)
        for entry in REPO.iterdir():
            if entry.name not in _NOT_LINKED and not entry.name.startswith("tmp"):
                (self.project / entry.name).symlink_to(entry)
        self.home.mkdir()
        var = self.project / "var"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
        self.env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            MARKET_ROOT=str(var),
            COMFYVN_CONFIG=str(var / "comfyvn.demo.json"),
            DEBUG="true",
            # What demo.sh gets by default, said outright: a .env of the checkout must
            # not point the demo at a shared database or cache.
            DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}",
            CACHE_URL="locmemcache://",
            PYTHONDONTWRITEBYTECODE="1",
        )
        (var / "packages").mkdir(parents=True)
        python = str(self.project / ".venv" / "bin" / "python")
        for args in (
            ["migrate", "--noinput", "-v", "0"],
            ["collectstatic", "--noinput", "-v", "0"],
            ["market_demo", "--env-file", "var/demo.env", "--server-url", self.url],
        ):
            done = subprocess.run(
                [python, "manage.py", *args],
                cwd=self.project,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode:
                raise RuntimeError(
                    f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}"
                )
            self.demo_output += done.stdout
        self.demo_env = parse_env_file(var / "demo.env")
        self.env.update(self.demo_env)
        shutil.copytree(var, self.pristine, symlinks=True)
        self.scratch.mkdir()
        self.start()
        self.fresh = True

    def start(self) -> None:
        log = (self.base / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                ".venv/bin/python",
                "manage.py",
                "runserver",
                "--noreload",
                f"127.0.0.1:{self.port}",
            ],
            cwd=self.project,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo server exited:\n{self.server_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/market/health", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the demo server did not answer:\n{self.server_log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def server_log(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def reset(self) -> None:
        """Back to the state ``market_demo`` left, with no files from earlier blocks."""
        self.stop()
        for entry in self.project.iterdir():
            if not entry.is_symlink():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(self.pristine, self.project / "var", symlinks=True)
        shutil.rmtree(self.scratch)
        self.scratch.mkdir()
        self.start()
        self.shell_state.unlink(missing_ok=True)
        self.current = (None, -1)
        self.fresh = True

    # -- running examples ---------------------------------------------------------
    def localise(self, text: str) -> str:
        """A doc's text as it reads on this demo: its server URL, /tmp in scratch."""
        text = re.sub(r"http://(?:127\.0\.0\.1|localhost):\d+", self.url, text)
        return re.sub(r"(?<![\w.~/-])/tmp/", f"{self.scratch}/", text)

    def unlocalise(self, text: str) -> str:
        text = text.replace(f"{self.scratch}/", "/tmp/").replace(self.url, DOCS_URL)
        return text.replace(str(self.project), "/abs/comfyvn-market")

    # A reader keeps one shell open along a page: what a block exports or defines
    # (variables, functions) is there in the blocks below it.
    @property
    def shell_state(self) -> Path:
        return self.base / "shell-state.sh"

    def _load_shell(self) -> str:
        state = shlex.quote(str(self.shell_state))
        return f"[ -f {state} ] && . {state}"

    def _save_shell(self) -> str:
        return (
            f"{{ export -p | grep -v '^declare -[a-zA-Z]*r'; declare -f; }} "
            f"> {shlex.quote(str(self.shell_state))}"
        )

    def run_script(self, block: Block, timeout: float = 120) -> tuple[int, str]:
        script = (
            f"{self._load_shell()}\nset -euo pipefail\n{self.localise(block.text)}\n"
            f"{self._save_shell()}\n"
        )
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return done.returncode, done.stdout

    def run_console(self, block: Block, timeout: float = 120) -> list[StepResult]:
        """Every command of a console block in one shell, each output apart."""
        parts = ["exec 2>&1", self._load_shell(), "set -u"]
        for n, step in enumerate(block.steps):
            parts.append(self.localise(step.command))
            parts.append(f"printf '\\n@@docs-step {n} %s@@\\n' \"$?\"")
        parts.append(self._save_shell())
        done = subprocess.run(
            ["bash", "-c", "\n".join(parts) + "\n"],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        results, pos = [], 0
        for m in _STEP.finditer(done.stdout):
            results.append(
                StepResult(
                    int(m.group(1)), int(m.group(2)), done.stdout[pos : m.start()]
                )
            )
            pos = m.end()
        for n in range(len(results), len(block.steps)):
            results.append(
                StepResult(n, None, done.stdout[pos:] if n == len(results) else "")
            )
        return results

    def prepare(self, block: Block, runnable: list[Block]) -> None:
        """Bring the demo to the state the doc has reached before ``block``: a doc is
        read from its start, so each file begins on a fresh demo, and a block run on
        its own first replays the blocks above it."""
        same_doc = [b for b in runnable if b.path == block.path]
        index = same_doc.index(block)
        doc, last = self.current
        if (doc == block.path and last == index - 1) or (
            doc is None and last == -1 and index == 0 and self.fresh
        ):
            pass
        else:
            self.reset()
            for earlier in same_doc[:index]:
                self.check(earlier)
        self.fresh = False
        self.current = (block.path, index)

    def check(self, block: Block) -> list[str]:
        """What is wrong with running ``block``: nothing when it runs as shown."""
        if block.kind == "file":
            target = Path(self.localise(block.target))
            target = target if target.is_absolute() else self.project / target
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            return []
        if block.kind == "script":
            status, output = self.run_script(block)
            if status:
                return [f"the script exited {status}:\n{output}"]
            if re.search(r'"ok":\s*false', output):
                return [f"the script printed an error payload:\n{output}"]
            return []
        problems = []
        for step, result in zip(block.steps, self.run_console(block), strict=True):
            if result.status is None:
                problems.append(
                    f"$ {step.command}\nthe shell stopped here:\n{result.output}"
                )
                break
            if step.expected:
                if not output_matches(step.expected, result.output):
                    diff = difflib.unified_diff(
                        render(step.expected).splitlines(),
                        render(result.output).splitlines(),
                        "the doc shows",
                        "the command printed",
                        lineterm="",
                        n=2,
                    )
                    problems.append(
                        f"$ {step.command}\n(normalised)\n" + "\n".join(diff)
                    )
            elif result.status:
                problems.append(
                    f"$ {step.command}\nexited {result.status}, and the doc shows "
                    f"no output:\n{result.output}"
                )
        return problems
