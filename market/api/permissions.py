"""Who may do what over the API."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from market.conf import market_conf


class MarketReadPermission(BasePermission):
    """Reads are public when ``MARKET_PUBLIC_READS`` is on; the rest needs a login."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method in SAFE_METHODS and market_conf().public_reads:
            return True
        return bool(user and user.is_authenticated)


class HasModelPermission(BasePermission):
    """An authenticated user holding ``view.required_permission`` (``app.codename``)."""

    message = "you do not have the permission this action needs"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.has_perm(view.required_permission)
