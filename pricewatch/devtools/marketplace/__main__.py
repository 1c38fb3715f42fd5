"""``python -m pricewatch.devtools.marketplace``: the shop (and proxies) until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from pricewatch.devtools.proxies import ProxyPool

from .catalog import Catalog, demo_catalog
from .server import Marketplace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pricewatch.devtools.marketplace",
        description="A local Amazon-like marketplace for crawler tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="plain HTTP port (0: any free)")
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="also serve HTTPS (self-signed, all Amazon domains) on this port",
    )
    parser.add_argument(
        "--demo",
        type=int,
        default=0,
        metavar="N",
        help="start with N demo products whose prices move over time",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo catalog")
    parser.add_argument(
        "--default-market",
        default="us",
        help="market for requests whose Host is not an Amazon domain",
    )
    parser.add_argument(
        "--proxies",
        type=int,
        default=0,
        metavar="N",
        help="also start N forward proxies on 127.0.0.2.. routing Amazon domains here",
    )
    parser.add_argument(
        "--log-file", type=Path, default=None, help="append every request to this JSON-lines file"
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=None,
        help="write the TLS certificate and key (cert.pem, key.pem) here",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.demo < 0 or args.proxies < 0:
        raise SystemExit("--demo and --proxies take a count >= 0")
    catalog = demo_catalog(args.demo, args.seed) if args.demo else Catalog()
    marketplace = Marketplace(
        catalog,
        host=args.host,
        port=args.port,
        tls=args.tls_port is not None,
        tls_port=args.tls_port or 0,
        default_market=args.default_market,
        log_file=args.log_file,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with marketplace:
        print(f"marketplace: {marketplace.base_url}", flush=True)
        if args.tls_port is not None:
            print(f"marketplace (TLS): {marketplace.tls_base_url}", flush=True)
            if args.cert_dir is not None:
                cert, _ = marketplace.certificate.write(args.cert_dir)
                print(f"certificate: {cert}", flush=True)
        for product in catalog.products():
            print(f"  {product.market} {product.asin} {product.title}", flush=True)
        pool = ProxyPool(args.proxies, route=marketplace.upstream) if args.proxies else None
        try:
            if pool is not None:
                pool.start()
                for url in pool.urls:
                    print(f"proxy: {url}", flush=True)
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
        finally:
            if pool is not None:
                pool.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
