"""Re-record the output the docs show: ``python -m tests.docs.record [FILE...]`` runs
every example against a fresh demo and writes, for each command whose output differs,
what it printed now. Read the diff before committing it."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.docs.blocks import REPO, doc_files, find_blocks, output_matches
from tests.docs.demo import DemoServer


def layout(output: str) -> str:
    """Output as a doc shows it: one JSON document laid out compactly (what fits on a
    line stays on one line), anything else as printed."""
    try:
        value = json.loads(output)
    except ValueError:
        return output
    if not output.lstrip().startswith(("{", "[")) or "\n" not in output.strip():
        return output
    return _compact(value, 0) + "\n"


def _compact(value: object, indent: int, prefix: int = 0) -> str:
    flat = json.dumps(value, ensure_ascii=False)
    if (
        indent + prefix + len(flat) <= 88
        or not isinstance(value, (dict, list))
        or not value
    ):
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        inner = []
        for k, v in value.items():
            key = json.dumps(k, ensure_ascii=False) + ": "
            inner.append(pad + key + _compact(v, indent + 2, len(key)))
        return "{\n" + ",\n".join(inner) + "\n" + " " * indent + "}"
    inner = [pad + _compact(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(inner) + "\n" + " " * indent + "]"


def main(argv: list[str]) -> int:
    files = [REPO / a for a in argv] if argv else doc_files()
    with tempfile.TemporaryDirectory() as tmp:
        demo = DemoServer(Path(tmp))
        demo.setup()
        try:
            for path in files:
                runnable = [b for b in find_blocks(path) if b.norun is None]
                lines = path.read_text().split("\n")
                edits = []
                for block in runnable:
                    demo.prepare(block, runnable)
                    if block.kind != "console":
                        problems = demo.check(block)
                        for problem in problems:
                            print(f"{block.name}: {problem}", file=sys.stderr)
                        continue
                    results = demo.run_console(block)
                    changed = False
                    body = []
                    for n, (step, result) in enumerate(
                        zip(block.steps, results, strict=True)
                    ):
                        body.append("$ " + step.command)
                        out = layout(demo.unlocalise(result.output)).rstrip("\n")
                        if step.expected and not output_matches(
                            step.expected, result.output
                        ):
                            changed = True
                            if not (block.shown_in and n == len(block.steps) - 1):
                                body.extend(out.split("\n") if out else [])
                            print(f"{block.name}: re-recorded $ {step.command[:60]}")
                        elif step.expected and not (
                            block.shown_in and n == len(block.steps) - 1
                        ):
                            body.extend(step.expected.split("\n"))
                        elif result.status:
                            print(
                                f"{block.name}: exit {result.status}: {out}",
                                file=sys.stderr,
                            )
                        if step.gap:
                            body.append("")
                    if changed:
                        start = block.line  # the line after the fence, 0-based
                        end = start
                        while not lines[end].lstrip().startswith("```"):
                            end += 1
                        if block.shown_in:  # the last output has a block of its own
                            last = results[-1]
                            if not output_matches(
                                block.steps[-1].expected, last.output
                            ):
                                first, stop = block.shown_in
                                while not lines[first].lstrip().startswith("```"):
                                    first += 1
                                out = (
                                    layout(demo.unlocalise(last.output))
                                    .rstrip("\n")
                                    .split("\n")
                                )
                                edits.append((first + 1, stop, out))
                        edits.append((start, end, body))
                for start, end, body in sorted(edits, reverse=True):
                    lines[start:end] = body
                path.write_text("\n".join(lines))
        finally:
            demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
