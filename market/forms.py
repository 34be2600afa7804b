"""Form fields the admin shares: a reviewer's free-text reason is display text."""

from __future__ import annotations

from typing import Any

from django import forms

from market.characters import require_display_text
from market.errors import MarketError


class ReasonField(forms.CharField):
    """A required multi-line reason, held to the display-text rule
    (``market/characters.py``) that the services apply, so the form says why."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "cols": 60}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            return require_display_text(text, path="reason", multiline=True)
        except MarketError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
