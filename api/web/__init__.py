"""The Pricewatch website: server-rendered pages with a uPlot price chart.

``api.app.create_app`` mounts ``api.web.routes`` (``ROUTE_HANDLERS``,
``TEMPLATE_CONFIG``). Pages: ``/`` (search by URL or ASIN), ``/p/{market}/{asin}``
(product, chart, subscribe), ``/signin``, ``/register``, ``/alerts``; the built
front-end under ``/static``.
"""
