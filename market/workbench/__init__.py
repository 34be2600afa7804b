"""The reviewer's workbench in the admin: a stored bundle's files, one file at a
time, and what changed since the last approved version.

Views (:mod:`~market.workbench.views`) are thin: they read from the stored bundle
through :mod:`~market.workbench.bundles` and render what the pure packages
(:mod:`market.codeview`, :mod:`market.risk`) compute. Content is read from the
bundle on each request, never extracted to a folder a web server could serve.
"""
