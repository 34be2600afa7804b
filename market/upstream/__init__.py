"""The studio role: this server's catalogue synced from a central marketplace.

- :mod:`.snapshot`: checks a signed snapshot document (pure, no Django);
- :mod:`.client`: HTTP with timeouts, retries, streaming size limits, TLS verified;
- :mod:`.keys`: the pinned central keys and those accepted by rotation;
- :mod:`.sync`: fetch, verify, store as ``source="upstream"`` catalogue rows;
- :mod:`.state`: the last accepted snapshot (expiry, health);
- :mod:`.bundles`: an install's download of an upstream bundle, checked against the
  snapshot.
"""
