"""Normaliser sections for how far an extension is trusted and what it contains.

``trust`` (level, the packager's ``--trust`` override, signature fields) and
``content`` (the bundle's file record, written by the packager).
"""

from __future__ import annotations

import copy
from typing import Any

from market.manifest.normalise_base import NormaliserBase
from market.manifest.problems import short
from market.manifest.registry import (
    CONTENT_KEYS,
    TRUST_KEYS,
    TRUST_LEVELS,
    VERIFIED_DOC,
)
from market.manifest.wording import did_you_mean


class TrustSections(NormaliserBase):
    """Trust and content."""

    def _trust(self) -> None:
        trust = self.raw.get("trust", {})
        trust = trust if isinstance(trust, dict) else {}
        out: dict[str, Any] = {"level": trust.get("level", "unverified")}
        if self.trust_level is not None:
            if self.trust_level in TRUST_LEVELS:
                out["level"] = self.trust_level
            else:
                self.error(
                    "trust.level",
                    "invalid_trust",
                    f"trust level override {short(self.trust_level)} is not one of "
                    + ", ".join(TRUST_LEVELS)
                    + did_you_mean(self.trust_level, TRUST_LEVELS),
                )
        if isinstance(out["level"], str) and out["level"] not in TRUST_LEVELS:
            self.error(
                "trust.level",
                "invalid_trust",
                f"{short(out['level'])} is not one of "
                + ", ".join(TRUST_LEVELS)
                + did_you_mean(out["level"], TRUST_LEVELS),
            )
        # Blank values mean "not set": the spec tells modders to leave the signature
        # blank when unsure, and a blank must not count as a (failing) signature.
        for key in ("signed_by", "signature", "signature_type", "reason"):
            value = trust.get(key)
            if isinstance(value, str) and value.strip():
                out[key] = value.strip()
        verified_at = trust.get("verified_at")
        if isinstance(verified_at, str):
            out["verified_at"] = verified_at
            from datetime import datetime  # here: most manifests have no date

            try:
                datetime.fromisoformat(verified_at)
            except ValueError:
                self.error(
                    "trust.verified_at",
                    "invalid_trust",
                    f"{short(verified_at)} is not an ISO 8601 date-time",
                )
        self._unknown_keys(trust, TRUST_KEYS, "trust")
        out.update(
            (k, copy.deepcopy(v)) for k, v in trust.items() if k not in TRUST_KEYS
        )
        self.data["trust"] = out
        signature = out.get("signature")
        signed = isinstance(signature, str) and signature.lower().startswith("ed25519:")
        if out["level"] == "verified" and not signed:
            self.warn(
                "trust.level",
                "trust_unproven",
                "claims verified without proof: installing it is refused "
                "(trust_unproven) until the catalogue approves it as verified or a "
                f"trusted key signs it ({VERIFIED_DOC})",
            )

    def _content(self, content: dict[str, Any]) -> None:
        out = copy.deepcopy(content)
        for key in ("files", "bytes"):
            value = out.get(key)
            # JSON Schema counts 3.0 as an integer; store it as one.
            if isinstance(value, float) and value.is_integer():
                out[key] = int(value)
        self._unknown_keys(content, CONTENT_KEYS, "content")
        self.data["content"] = out
