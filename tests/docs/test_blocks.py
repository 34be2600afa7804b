"""How the docs' examples are found and how shown output is compared (no server)."""

from __future__ import annotations

import pytest

from tests.docs.blocks import find_blocks, output_matches

DOC = """# A page

```bash
curl -s $B/health | jq .ok
```

<!-- norun: production only -->
```bash
export DEBUG=false
```

<!-- norun -->
```sh
./scripts/demo.sh
```

```
$ cat > /tmp/x.json <<'EOF'
{"a": 1}
EOF
$ echo one \\
    two
one two

$ jq -c . /tmp/x.json
{"a":1}
```

```json
{"not": "an example"}
```

```console
$ curl -s $B/list | jq .
```

```json
{"ok": true}
```

<!-- file: /tmp/docs_x/manifest.json -->
```json
{"id": "x"}
```

```python
print("not shell")
```
"""


@pytest.fixture(autouse=True)
def market_root():
    """Pure tests: no settings-based runtime folder."""
    return None


@pytest.fixture
def blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(DOC)
    return find_blocks(page)


def test_shell_blocks_are_found_with_their_kind_and_line(blocks):
    assert [(b.line, b.kind, b.norun) for b in blocks] == [
        (3, "script", None),
        (8, "script", "production only"),
        (13, "script", ""),  # a norun marker without its reason: the suite fails it
        (17, "console", None),
        (33, "console", None),
        (42, "file", None),
    ]


def test_console_blocks_split_into_commands_and_output(blocks):
    steps = blocks[3].steps
    assert [s.command for s in steps] == [
        "cat > /tmp/x.json <<'EOF'\n{\"a\": 1}\nEOF",
        "echo one \\\n    two",
        "jq -c . /tmp/x.json",
    ]
    assert [s.expected for s in steps] == ["", "one two", '{"a":1}']
    assert [s.gap for s in steps] == [False, True, False]


def test_a_json_block_after_a_prompt_is_the_output_of_its_command(blocks):
    [step] = blocks[4].steps
    assert step.expected == '{"ok": true}'


def test_file_blocks_name_where_they_are_written(blocks):
    assert (blocks[5].target, blocks[5].text) == (
        "/tmp/docs_x/manifest.json",
        '{"id": "x"}\n',
    )


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        # JSON compares by value, however it is laid out
        (
            '{"a": [1, 2], "b": {"c": null}}',
            '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {"c": null}\n}',
        ),
        # what differs between servers
        ("sha256=" + "a" * 64, "sha256=" + "b1" * 32),
        (
            '{"installed_at": "2026-11-25T14:08:26.879342Z"}',
            '{"installed_at": "2027-01-02T03:04:05Z"}',
        ),
        ("next: http://127.0.0.1:8000/api/x", "next: http://127.0.0.1:43121/api/x"),
        (
            "[ok] created /tmp/docs_out/x.cvnext",
            "[ok] created /tmp/pytest-of-u/p1/scratch/docs_out/x.cvnext",
        ),
        ('{"id": 4, "status": "pending"}', '{"id": 9, "status": "pending"}'),
        (
            "report: http://127.0.0.1:8000/api/market/submissions/4/",
            "report: http://127.0.0.1:9/api/market/submissions/12/",
        ),
        ("password=rFCLh5iVjw3-_MnV (admin login)", "password=Zx_-9aB (admin login)"),
        # a signed bundle's size follows its signature
        (
            '{"trust": {"signature": "ed25519:' + "A" * 86 + '=="}, "size": 4199}',
            '{"trust": {"signature": "ed25519:' + "B" * 86 + '=="}, "size": 4197}',
        ),
        # "..." skips lines; a "..." key stands for keys the doc leaves out
        ("first\n...\nlast", "first\nsecond\nthird\nlast"),
        ('{"a": 1, "...": "the rest"}', '{"a": 1, "b": 2, "c": 3}'),
        # blank lines and trailing spaces do not count
        ("one\n\ntwo", "one  \ntwo\n\n"),
    ],
)
def test_output_that_matches(shown, printed):
    assert output_matches(shown, printed)


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        ('{"a": 1}', '{"a": 2}'),
        ('{"a": 1}', '{"a": 1, "b": 2}'),
        ("exit=0", "exit=1"),
        ("one\ntwo", "one"),
        ("one", "one\ntwo"),
        ('{"size": 784}', '{"size": 785}'),  # unsigned bundles are byte-identical
        ('{"count": 3}', '{"count": 4}'),
        (
            "[error] manifest_invalid: 6 problems",
            "[error] manifest_invalid: 5 problems",
        ),
    ],
)
def test_output_that_differs(shown, printed):
    assert not output_matches(shown, printed)
