"""Development tools: a local stand-in for Amazon, never part of a production path.

- :mod:`.marketplace`: an Amazon-like shop on loopback (catalog, pages, HTTP and
  HTTPS server) whose prices the caller controls; ``python -m
  pricewatch.devtools.marketplace --help`` runs it on its own.
- :mod:`.proxies`: forward proxies on 127.0.0.2, 127.0.0.3, ... so the shop sees
  one client IP per proxy, as Amazon sees one per rented proxy.
- :mod:`.tls`: a self-signed certificate for every Amazon domain, made at run time
  (browsers reach amazon.com over HTTPS only), and the demo's local CA, made once
  under the data dir, with the server certificates it issues.
- :mod:`.demo`: ``pricewatch up --demo``, Pricewatch crawling the local shop, which
  it also serves over HTTPS under the Amazon names.
- :mod:`.browser`: ``pricewatch up --demo --browser``, Chromium with the extension
  on that shop as if it were Amazon, on a throwaway profile.

Why this ships in the wheel rather than living with the tests: ``pricewatch up
--demo`` runs it, so someone trying Pricewatch sees charts fill and alerts fire
without a single request to Amazon; the test suite and the benchmarks use the same
shop and proxies as their local marketplace. Nothing here touches the internet,
and no role of a deployment imports it unless ``--demo`` asks.
"""
