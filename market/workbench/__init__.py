"""The reviewer's workbench in the admin: the review queue, one submission's review
page and its decisions, a stored bundle's files one at a time, and what changed since
the last approved version.

Views (:mod:`~market.workbench.views`, :mod:`~market.workbench.review`) are thin:
they read from the stored bundle through :mod:`~market.workbench.bundles` and render
what the pure packages (:mod:`market.codeview`, :mod:`market.risk`) compute;
:mod:`~market.workbench.queue` shapes the changelist and
:mod:`~market.workbench.decisions` words each decision. Every decision is made by
:func:`market.review.transition`. Content is read from the bundle on each request,
never extracted to a folder a web server could serve.
"""
