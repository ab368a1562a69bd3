"""Domain objects to response bodies (read inside the transaction that loaded them)."""

from __future__ import annotations

from commerce.cart import Cart
from commerce.models import Order, Product
from web.schemas import CartLineOut, CartOut, LineOut, OrderOut, ProductOut, RefundOut, SkuOut


def product_view(product: Product) -> ProductOut:
    skus = [SkuOut(sku_id=s.sku_id, specs=s.specs, price_fen=s.price_fen, stock=s.stock)
            for s in product.skus if s.active]
    return ProductOut(id=product.id, title=product.title, category=product.category,
                      description=product.description, images=list(product.images), skus=skus)


def cart_view(cart: Cart) -> CartOut:
    lines = [
        CartLineOut(sku_id=line.sku_id, product_id=line.product_id, title=line.title, specs=line.specs,
                    price_fen=line.price_fen, quantity=line.quantity, subtotal_fen=line.subtotal_fen,
                    in_stock=line.in_stock, available=line.available)
        for line in cart.lines
    ]
    return CartOut(lines=lines, quantity=cart.quantity, total_fen=cart.total_fen)


def order_view(order: Order) -> OrderOut:
    items = [LineOut(sku_id=i.sku_id, product_id=i.product_id, title=i.title, specs=i.specs,
                          price_fen=i.price_fen, quantity=i.quantity) for i in order.items]
    refunds = [RefundOut(out_refund_no=r.out_refund_no, amount_fen=r.amount_fen, status=r.status, reason=r.reason)
               for r in order.refunds]
    return OrderOut(
        order_no=order.order_no, status=order.status, amount_fen=order.amount_fen,
        refunded_fen=order.refunded_fen, created_at=order.created_at, expires_at=order.expires_at,
        paid_at=order.paid_at, shipped_at=order.shipped_at, carrier=order.carrier, tracking_no=order.tracking_no,
        address=dict(order.address), items=items, refunds=refunds,
    )
