"""Trust is proven, never claimed: how a bundle earns ``verified``."""

from __future__ import annotations

from django.db.models import Q

from market import archive, signing
from market.errors import InvalidRequestError, TrustUnprovenError
from market.manifest import TRUST_LEVELS, parse_signature
from market.models import CatalogEntry


def establish_trust(
    info: archive.BundleInfo, *, requested: str | None = None
) -> tuple[str, str | None]:
    """The level to install ``info`` at, given what the install request asked for.

    - nothing: what the bundle proves (:func:`prove_trust`);
    - ``"unverified"``: the operator's choice to run it sandboxed, whatever the bundle
      claims or could prove, so no proof is looked for;
    - ``"verified"``: a requirement: a bundle that does not prove it is refused
      ``trust_unproven`` rather than installed as ``unverified``.
    """
    if requested is not None and requested not in TRUST_LEVELS:
        raise InvalidRequestError(
            "trust must be one of: " + ", ".join(TRUST_LEVELS),
            details={"trust": requested if isinstance(requested, str) else None},
        )
    if requested == "unverified":
        return "unverified", None
    level, proof = prove_trust(info)
    if requested == "verified" and level != "verified":
        manifest = info.manifest
        raise TrustUnprovenError(
            f"the request requires trust level verified, but {manifest.id} "
            f"{manifest.version} claims {manifest.trust_level}; only a bundle the "
            "catalogue approved as verified, or one signed by a trusted key, is "
            "verified",
            details={
                "id": manifest.id,
                "requested": "verified",
                "claimed": manifest.trust_level,
                "sha256": info.sha256,
            },
        )
    return level, proof


def prove_trust(info: archive.BundleInfo) -> tuple[str, str | None]:
    """The trust level a bundle has earned, and how: ``(level, proof)``.

    ``verified`` is never taken on the bundle's word: its package must be a catalogue
    entry approved as verified, or carry a valid Ed25519 signature from a trusted key.
    A bundle the catalogue has delisted (or rejected) loses its signature's proof too:
    delisting is how a signed bundle is revoked.
    """
    manifest = info.manifest
    if manifest.trust_level != "verified":
        return "unverified", None
    if not info.content_verified:
        raise TrustUnprovenError(
            "a verified bundle needs the packager's content record",
            details={"id": manifest.id},
        )
    digest = manifest.digest()
    withdrawn = CatalogEntry.objects.filter(
        Q(package_sha256=info.sha256) | Q(manifest_sha256=digest),
        status__in=(CatalogEntry.Status.DELISTED, CatalogEntry.Status.REJECTED),
    ).first()
    if withdrawn is not None:
        raise TrustUnprovenError(
            f"the catalogue withdrew {manifest.id} {manifest.version} "
            f"({withdrawn.status}); its verified trust no longer holds",
            details={"id": manifest.id, "reason": withdrawn.status},
        )
    approved = CatalogEntry.objects.filter(
        package_sha256=info.sha256,
        # A yanked version keeps the trust it was approved with.
        status__in=(CatalogEntry.Status.APPROVED, CatalogEntry.Status.YANKED),
        trust_level=CatalogEntry.Trust.VERIFIED,
    )
    if approved.filter(source=CatalogEntry.Source.LOCAL).exists():
        return "verified", "catalog"
    upstream = approved.filter(source=CatalogEntry.Source.UPSTREAM).first()
    if upstream is not None:
        key_id = _upstream_signer(upstream, digest)
        if key_id:
            return "verified", f"upstream:{key_id}"
    trust = manifest.data.get("trust", {})
    signature = trust.get("signature")
    if signature:
        algorithm, raw = parse_signature(signature)
        if algorithm == "ed25519":
            key_id = signing.verify_digest(digest, raw, trust.get("signed_by"))
            if key_id:
                return "verified", f"ed25519:{key_id}"
    raise TrustUnprovenError(
        "the bundle claims trust level verified but is neither an approved verified "
        "catalogue bundle nor signed by a trusted key",
        details={"id": manifest.id, "sha256": info.sha256},
    )


def _upstream_signer(entry: CatalogEntry, digest: str) -> str | None:
    """The pinned (or accepted) upstream key whose Ed25519 signature of the entry
    covers the installed bundle's manifest digest, or None."""
    from market.upstream.keys import upstream_keys
    from market.upstream.snapshot import verify_entry_signature

    signature = (entry.upstream or {}).get("signature")
    if not isinstance(signature, str) or digest != entry.manifest_sha256:
        return None
    return verify_entry_signature(digest, signature, entry.manifest, upstream_keys())
