"""A read-only web dashboard over the alpha store: ``alpha-env serve --db PATH`` (see docs/dashboard.md).

Needs the ``dashboard`` extra (``pip install -e .[dashboard]``: Flask). Pages: the alpha table (sort,
filter, paginate on the server), one page per alpha (charts, splits, years, checks, correlated alphas),
compare, pools and runs. Charts are inline SVG drawn by matplotlib, so nothing is fetched at run time.

Example::

    from alpha_env.dashboard import create_app

    app = create_app("alpha_env.db")
    page = app.test_client().get("/?sort=valid.sharpe&q=rank")
"""

from alpha_env.dashboard.app import create_app

__all__ = ["create_app"]
