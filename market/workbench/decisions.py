"""The decisions a reviewer makes on the review page: how each is offered (its
button and its usual reasons), the reason form, what its confirmation page says will
happen, and the message that reports it done. The decisions themselves are made by
:func:`market.review.transition` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from market import signing
from market.forms import ReasonField
from market.models import CatalogEntry


@dataclass(frozen=True)
class Decision:
    """How a decision is offered: its button, and its reasons to pick from."""

    label: str
    canned: tuple[str, ...] = ()


DECISIONS: dict[str, Decision] = {
    "approve_verified": Decision("Approve as verified"),
    "approve_unverified": Decision("Approve as unverified"),
    "reject": Decision(
        "Reject",
        (
            "It asks for permissions it does not explain or does not need.",
            "Its code does things the manifest does not declare (network access, "
            "subprocesses, dynamic imports).",
            "It ships compiled, minified or encoded code that cannot be reviewed.",
            "It does not work: it fails to load or breaks the Studio.",
        ),
    ),
    "delist": Decision(
        "Delist",
        (
            "It was found to be harmful after approval.",
            "It no longer works with the current Studio.",
            "Withdrawn at its author's request.",
        ),
    ),
    "yank": Decision(
        "Yank this version",
        (
            "This version has a serious bug; the previous version is offered instead.",
            "This version was published by mistake.",
        ),
    ),
}
# Bounded as the stored reason is read back on every page showing it.
MAX_REASON_CHARS = 2000


class DecisionForm(forms.Form):
    """A reason from the canned list, written, or both (joined)."""

    canned = forms.ChoiceField(label="Reason", required=False)
    reason = ReasonField(
        label="In your words",
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="Added after the reason picked above, or on its own. "
        "The submitter sees it.",
    )

    def __init__(self, *args: Any, canned: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.canned_texts = canned
        field = self.fields["canned"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "(write your own below)"),
            *((str(i), text) for i, text in enumerate(canned)),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        picked = data.get("canned")
        parts = [
            self.canned_texts[int(picked)] if picked else "",
            (data.get("reason") or "").strip(),
        ]
        text = " ".join(p for p in parts if p)
        if not text:
            raise forms.ValidationError(
                "Pick a reason or write one: the submitter is told why."
            )
        data["text"] = text
        return data


def what_happens(entry: CatalogEntry, action: str) -> tuple[list[str], bool]:
    """The confirmation page's sentences, and whether the decision can be made."""
    ident = f"{entry.extension_id} {entry.version}"
    if action == "approve_verified":
        key = signing.load_signing_key()
        if key is None:
            return (
                [
                    "Approving as verified signs the bundle with the catalogue key, "
                    "and the catalogue has none yet.",
                    "Create it with `manage.py market_keys create` on the server, "
                    "then come back to approve.",
                ],
                False,
            )
        key_id = signing.key_id_for(key.public_key())
        return (
            [
                f"Signs {ident} with key {key_id} and re-packs it: the signed "
                "bundle replaces the submitted one (a new sha256; every file the "
                "reviewer saw is kept byte for byte).",
                "Lists it in the catalogue as verified: Studios run it with full "
                "trust, global routes included.",
                f"It becomes the newest version of {entry.extension_id} unless a "
                "higher version is approved.",
            ],
            True,
        )
    if action == "approve_unverified":
        sentences = [
            f"Lists {ident} in the catalogue as unverified: Studios run it "
            "sandboxed, its routes only under its own namespace.",
            f"The bundle is not changed (sha256 {entry.package_sha256[:16]}...).",
            f"It becomes the newest version of {entry.extension_id} unless a "
            "higher version is approved.",
        ]
        if _claims_more_than_unverified(entry):
            sentences.append(
                "Note: this bundle claims verified trust or declares global routes, "
                "so approval as unverified will be refused: approve it as verified "
                "or reject it."
            )
        return sentences, True
    if action == "reject":
        return (
            [
                f"Marks {ident} rejected; it is never listed.",
                "The submitter sees the reason. The version stays reserved: a fixed "
                "bundle must be submitted as a new version.",
            ],
            True,
        )
    if action == "delist":
        return (
            [
                f"Removes {ident} from the catalogue: it can no longer be found or "
                "installed by id. Copies already installed stay installed.",
                "The reason is recorded and shown to the submitter.",
            ],
            True,
        )
    return (
        [
            f"Withdraws version {entry.version}: it stays reserved but is no longer "
            f"offered as the newest version of {entry.extension_id}; the highest "
            "other approved version takes its place.",
            "The reason is recorded and shown to the submitter.",
        ],
        True,
    )


def _claims_more_than_unverified(entry: CatalogEntry) -> bool:
    manifest = entry.manifest if isinstance(entry.manifest, dict) else {}
    trust = manifest.get("trust")
    routes = manifest.get("routes")
    return (isinstance(trust, dict) and trust.get("level") == "verified") or any(
        isinstance(r, dict) and r.get("expose") == "global"
        for r in (routes if isinstance(routes, list) else [])
    )


def outcome(entry: CatalogEntry, action: str) -> str:
    ident = f"{entry.extension_id} {entry.version}"
    if action == "approve_verified":
        return (
            f"Approved {ident} as verified: signed and re-packed "
            f"(sha256 {entry.package_sha256[:16]}...)."
        )
    if action == "approve_unverified":
        return f"Approved {ident} as unverified."
    return f"{entry.get_status_display()}: {ident}. Reason: {entry.review_reason}"
