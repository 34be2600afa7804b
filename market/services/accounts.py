"""Marketplace accounts: a user per role, with the permissions the role needs.

A role is a Django group (``market modders``, ...) holding the role's permissions, so an
operator can see and adjust it in the admin; :func:`market_user_create` makes sure the
group holds at least these permissions (it never removes one an operator added) and
puts the new user in it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field
from rest_framework.authtoken.models import Token

from market.errors import InvalidRequestError


@dataclass(frozen=True)
class Role:
    name: str
    group: str
    description: str
    permissions: tuple[str, ...]
    # Reviewers work in the Django admin: they need is_staff and a password.
    staff: bool = False


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            name="modder",
            group="market modders",
            description="submits bundles for review and follows their review state",
            permissions=("market.submit_catalogentry",),
        ),
        Role(
            name="reviewer",
            group="market reviewers",
            description="approves, rejects and delists submissions in the admin",
            permissions=(
                "market.review_catalogentry",
                "market.view_catalogentry",
                "market.view_lifecycleerror",
                "market.view_lifecycleevent",
            ),
            staff=True,
        ),
        Role(
            name="installer",
            group="market installers",
            description="installs and uninstalls extensions (the Studio's account)",
            permissions=(
                "market.install_extension",
                "market.uninstall_extension",
            ),
        ),
    )
}


@dataclass(frozen=True)
class CreatedUser:
    user: AbstractBaseUser
    roles: tuple[str, ...]
    token: str
    # Set only for roles that log in to the admin; shown once, never stored in clear.
    password: str | None


def role_group(role: Role) -> Group:
    """The role's group, holding at least the role's permissions."""
    group, _ = Group.objects.get_or_create(name=role.group)
    for label in role.permissions:
        app_label, codename = label.split(".", 1)
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


def market_user_create(*, username: str, roles: list[str]) -> CreatedUser:
    """Create ``username`` with ``roles`` and an API token; refuse an existing name."""
    unknown = [name for name in roles if name not in ROLES]
    if not roles or unknown:
        raise InvalidRequestError(
            f"unknown role {unknown[0]!r}; roles: {', '.join(ROLES)}"
            if unknown
            else f"give at least one role: {', '.join(ROLES)}",
            details={"roles": list(ROLES)},
        )
    chosen = tuple(dict.fromkeys(roles))
    user_model = get_user_model()
    username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    assert isinstance(username_field, Field)
    try:
        username = username_field.clean(username, None)
    except ValidationError as exc:
        raise InvalidRequestError(
            f"invalid user name {username!r}: {' '.join(exc.messages)}",
            details={"username": username},
        ) from exc
    staff = any(ROLES[name].staff for name in chosen)
    with transaction.atomic():
        if user_model._default_manager.filter(
            **{user_model.USERNAME_FIELD: username}
        ).exists():
            raise InvalidRequestError(
                f"user {username!r} already exists; "
                f"use `market_user token {username} --rotate` for a new token",
                details={"username": username},
            )
        password = secrets.token_urlsafe(12) if staff else None
        user = user_model._default_manager.create_user(
            **{user_model.USERNAME_FIELD: username}, password=password
        )
        if staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        for name in chosen:
            user.groups.add(role_group(ROLES[name]))
        token = Token.objects.create(user=user)
    return CreatedUser(user=user, roles=chosen, token=token.key, password=password)


def market_user_token(*, username: str, rotate: bool = False) -> str:
    """The user's API token (created if missing; replaced when ``rotate``)."""
    user_model = get_user_model()
    user = user_model._default_manager.filter(
        **{user_model.USERNAME_FIELD: username}
    ).first()
    if user is None:
        raise InvalidRequestError(
            f"no user {username!r}; create one with `market_user create`",
            details={"username": username},
        )
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token.key
