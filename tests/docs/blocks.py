"""The shell examples of README.md and docs/*.md: finding them, splitting them into
commands and shown output, and comparing what a command printed with what the doc shows.

A shell example is a fenced block tagged ``bash``, ``sh``, ``shell`` or ``console``,
or an untagged block whose first line is a ``$ `` prompt. ``bash``/``sh``/``shell``
blocks are scripts: they must succeed. Blocks with ``$ `` prompts show commands and
what each printed: every command is run and its output compared (a ``json`` block
right after a prompt-only block is the output of its last command). A block that
cannot run against the demo server carries ``<!-- norun: why -->`` on the line before
its fence. A block of any language preceded by ``<!-- file: PATH -->`` is written to
PATH (relative to the project folder, or under /tmp) before the examples below it run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT_TAGS = {"bash", "sh", "shell"}
CONSOLE_TAGS = {"console"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
NORUN = re.compile(r"^\s*<!--\s*norun\b:?(?P<why>.*?)-->\s*$")
WRITES = re.compile(r"^\s*<!--\s*file:\s*(?P<path>\S+)\s*-->\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>[A-Za-z_]+)\1")


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Step:
    """One ``$ `` command of a console block and the output the doc shows for it."""

    command: str
    expected: str
    gap: bool = False  # a blank line follows the output in the doc


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    kind: str  # "script", "console" or "file" (a file the doc's examples use)
    text: str
    norun: str | None = None  # the reason, "" when the marker gives none
    steps: tuple[Step, ...] = field(default=())
    target: str = ""  # where a "file" block is written
    # The last command's output, when shown in a block of its own (line range).
    shown_in: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def find_blocks(path: Path) -> list[Block]:
    """Every shell example of one markdown file, in document order."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [
            line[indent:] if line[:indent].isspace() else line
            for line in lines[i + 1 : end]
        ]
        info = m.group("info").strip().split()
        tag = info[0].lower() if info else ""
        first = next((line for line in body if line.strip()), "")
        kind = None
        writes = WRITES.match(lines[i - 1]) if i else None
        if writes:  # the example files the examples below use, shown in full
            blocks.append(
                Block(
                    path=path,
                    line=i + 1,
                    kind="file",
                    text="\n".join(body) + "\n",
                    target=writes.group("path"),
                )
            )
        elif tag in SCRIPT_TAGS:
            kind = "script"
        elif tag in CONSOLE_TAGS or (not tag and first.startswith("$ ")):
            kind = "console"
        if kind:
            marker = NORUN.match(lines[i - 1]) if i else None
            text = "\n".join(body) + "\n"
            steps = console_steps(body) if kind == "console" else []
            shown = None
            if steps and not steps[-1].expected:
                # "$ curl ... | jq ." and, in a ```json block of its own, its output
                output, shown_end = _output_block(lines, end + 1)
                if output is not None:
                    steps[-1] = Step(steps[-1].command, output)
                    shown = (end + 1, shown_end)
                    end = shown_end
            blocks.append(
                Block(
                    path=path,
                    line=i + 1,
                    kind=kind,
                    text=text,
                    norun=marker.group("why").strip() if marker else None,
                    steps=tuple(steps),
                    shown_in=shown,
                )
            )
        i = end + 1
    return blocks


def _output_block(lines: list[str], start: int) -> tuple[str | None, int]:
    """The text of a ```json (or untagged, prompt-free) block right after ``start``."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    m = FENCE.match(lines[i]) if i < len(lines) else None
    if not m or m.group("info").strip() not in ("json", ""):
        return None, start
    end = i + 1
    while end < len(lines) and not lines[end].strip().startswith(m.group("fence")):
        end += 1
    body = lines[i + 1 : end]
    if any(line.startswith("$ ") for line in body):
        return None, start
    return "\n".join(body).strip("\n"), end


def console_steps(body: list[str]) -> list[Step]:
    """Split a console block into commands (``$ `` lines, with their ``\\``
    continuation lines and here-documents) and the output shown under each."""
    steps: list[Step] = []
    i = 0
    while i < len(body):
        line = body[i]
        if not line.startswith("$ "):
            if line.strip():
                raise ValueError(f"output before the first command: {line!r}")
            i += 1
            continue
        command = [line[2:]]
        i += 1
        while command[-1].endswith("\\") and i < len(body):
            command.append(body[i])
            i += 1
        for here in HEREDOC.finditer("\n".join(command)):
            while i < len(body):
                command.append(body[i])
                i += 1
                if command[-1].strip() == here.group("word"):
                    break
        output = []
        while i < len(body) and not body[i].startswith("$ "):
            output.append(body[i])
            i += 1
        gap = bool(output) and not output[-1].strip()
        steps.append(Step("\n".join(command), "\n".join(output).strip("\n"), gap))
    return steps


# What differs from one server to the next, replaced on both sides before comparing.
_NORMALISE = [
    (
        re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"),
        "<time>",
    ),
    (re.compile(r"\bhttp://(?:127\.0\.0\.1|localhost):\d+"), "http://<server>"),
    (re.compile(r"ed25519:[A-Za-z0-9+/]{40,}={0,2}"), "ed25519:<signature>"),
    (re.compile(r"(?<![\w+/])[A-Za-z0-9+/]{43}="), "<base64>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b|\b\d{12,}\b"), "<hex>"),
    (
        re.compile(
            r"(?<![\w.~-])/(?:tmp|abs|home|work|srv|opt|root|Users|private|var/folders)"
            r"(?:/[^\s\"'`,;()<>\[\]{}]*)?"
        ),
        "<path>",
    ),
    (re.compile(r"\b(submissions?/?|errors/|events/|market_status )\d+\b"), r"\1<id>"),
    (re.compile(r"\(submission \d+\)"), "(submission <id>)"),
    (re.compile(r"admin login: (\S+) / \S+"), r"admin login: \1 / <password>"),
    (re.compile(r"\bpassword=\S+"), "password=<password>"),
]


def normalise_text(text: str) -> str:
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text


SIZE_KEYS = {"size", "package_size", "bytes"}


def _normalise_json(
    value: object, key: str | None = None, signed: bool = False
) -> object:
    """Strings as text; row ids; and the sizes of a signed bundle, which vary with its
    (random) signature since the manifest inside it is compressed."""
    if isinstance(value, dict):
        return {k: _normalise_json(v, k, signed) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_json(v, None, signed) for v in value]
    if isinstance(value, str):
        return normalise_text(value)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and (key == "id" or (signed and key in SIZE_KEYS)):
        return f"<{key}>"
    return value


_DECODER = json.JSONDecoder()


def _items(text: str) -> list[tuple[str, object]]:
    """Text as a list of ("json", value) and ("line", text) items: JSON compares by
    value (however jq or the doc laid it out), everything else line by line."""
    items: list[tuple[str, object]] = []
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        if text[pos] in "{[":
            try:
                value, end = _DECODER.raw_decode(text, pos)
            except ValueError:
                pass
            else:
                signed = '"ed25519:' in json.dumps(value)
                items.append(("json", _normalise_json(value, signed=signed)))
                pos = end
                continue
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        items.append(("line", normalise_text(text[pos:end].rstrip())))
        pos = end
    return items


def _json_matches(expected: object, actual: object) -> bool:
    """Equal, except that an object with a ``"..."`` key in the doc stands for one
    with more keys than it shows."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if "..." in expected:
            shown = {k: v for k, v in expected.items() if k != "..."}
            return all(
                k in actual and _json_matches(v, actual[k]) for k, v in shown.items()
            )
        return expected.keys() == actual.keys() and all(
            _json_matches(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _json_matches(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return expected == actual


def _match(
    expected: list[tuple[str, object]], actual: list[tuple[str, object]]
) -> bool:
    if not expected:
        return not actual
    head = expected[0]
    if head == ("line", "..."):  # the doc skips some output here
        return any(_match(expected[1:], actual[n:]) for n in range(len(actual) + 1))
    if not actual or head[0] != actual[0][0]:
        return False
    same = (
        _json_matches(head[1], actual[0][1]) if head[0] == "json" else head == actual[0]
    )
    return same and _match(expected[1:], actual[1:])


def output_matches(expected: str, actual: str) -> bool:
    """Whether a command's output is what the doc shows, up to the values that differ
    between servers (times, hashes, tokens, ports, absolute paths, row ids)."""
    return _match(_items(expected), _items(actual))


def render(text: str) -> str:
    """The normalised form, for failure messages."""
    lines = []
    for kind, value in _items(text):
        lines.append(json.dumps(value, indent=1) if kind == "json" else str(value))
    return "\n".join(lines)
