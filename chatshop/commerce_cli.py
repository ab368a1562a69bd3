"""Commerce commands: catalog import/export, and staff operations (ship, refund, stock).

    chatshop catalog import FILE [--replace]          YAML or CSV; all or nothing
    chatshop catalog export [--format yaml|csv] [-o FILE]
    chatshop ship ORDER_NO --carrier 顺丰速运 --tracking-no SF1234567890
    chatshop refund ORDER_NO --reason 质量问题 [--amount-fen 1000]   (default: all that is left)
    chatshop stock SKU_ID (--set N | --add N)          --add takes negative numbers too
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from chatshop.cli_guard import guarded
from chatshop.database import migrated_database
from chatshop.pay_wiring import build_pay_client
from chatshop.settings import Settings
from commerce.catalog import (
    adjust_stock,
    dump_catalog_csv,
    dump_catalog_yaml,
    export_catalog,
    has_catalog,
    import_catalog,
    load_catalog_file,
    set_stock,
)
from commerce.orders import ship_order
from commerce.refunds import refund_and_submit
from storage.db import transaction

log = logging.getLogger("chatshop")

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.yaml"

def add_commerce_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the commerce subcommands on the `chatshop` parser."""
    catalog = commands.add_parser("catalog", parents=[common], help="import or export the catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    load = catalog_commands.add_parser("import", parents=[common], help="import a YAML or CSV catalog")
    load.add_argument("file", type=Path)
    load.add_argument("--replace", action="store_true", help="take products the file leaves out off sale")
    load.set_defaults(run=guarded(_catalog_import))
    dump = catalog_commands.add_parser("export", parents=[common], help="print or write the catalog")
    dump.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    dump.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    dump.set_defaults(run=guarded(_catalog_export))

    ship = commands.add_parser("ship", parents=[common], help="mark a paid order shipped")
    ship.add_argument("order_no")
    ship.add_argument("--carrier", required=True)
    ship.add_argument("--tracking-no", required=True)
    ship.set_defaults(run=guarded(_ship))

    refund = commands.add_parser("refund", parents=[common], help="refund an order, fully or partly")
    refund.add_argument("order_no")
    refund.add_argument("--reason", required=True)
    refund.add_argument("--amount-fen", type=int, help="default: everything not yet refunded")
    refund.set_defaults(run=guarded(_refund))

    stock = commands.add_parser("stock", parents=[common], help="set or adjust a SKU's stock")
    stock.add_argument("sku_id")
    change = stock.add_mutually_exclusive_group(required=True)
    change.add_argument("--set", type=int, dest="set_to", help="the counted number of units")
    change.add_argument("--add", type=int, dest="delta", help="units to add (negative: remove)")
    stock.set_defaults(run=guarded(_stock))


def seed_demo_catalog(settings: Settings) -> None:
    """`chatshop seed`: import the demo store's catalog when the database has none."""
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        if has_catalog(session):
            log.info("the database already has a catalog; left as it is")
            return
        summary = import_catalog(session, load_catalog_file(DEMO_CATALOG))
    log.info("imported the demo catalog: %d products, %d SKUs", summary.products, summary.skus)


def _catalog_import(settings: Settings, args: argparse.Namespace) -> int:
    data = load_catalog_file(args.file)
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        summary = import_catalog(session, data, replace=args.replace)
    print(f"imported {summary.products} products, {summary.skus} SKUs"
          + (f"; {summary.deactivated_products} products taken off sale" if summary.deactivated_products else ""))
    return 0


def _catalog_export(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, factory() as session:
        data = export_catalog(session)
    text = dump_catalog_csv(data) if args.format == "csv" else dump_catalog_yaml(data)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(data)} products to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _ship(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        order = ship_order(session, order_no=args.order_no, carrier=args.carrier, tracking_no=args.tracking_no)
        print(f"order {order.order_no} shipped with {order.carrier} {order.tracking_no}")
    return 0


def _refund(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory:
        made = refund_and_submit(factory, pay=build_pay_client(settings), order_no=args.order_no,
                                 amount_fen=args.amount_fen, reason=args.reason)
    print(f"refund {made.out_refund_no} of {made.amount_fen} fen: {made.status}"
          + (" (the service will send it to WeChat Pay)" if made.status == "pending" else ""))
    return 0


def _stock(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        if args.set_to is not None:
            stock = set_stock(session, sku_id=args.sku_id, stock=args.set_to)
        else:
            stock = adjust_stock(session, sku_id=args.sku_id, delta=args.delta)
    print(f"{args.sku_id}: {stock} in stock")
    return 0
