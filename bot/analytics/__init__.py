"""The numbers of the shop: product views, add-to-cart and checkout tracked as raw events, paid orders read
from the orders table, and both rolled up into daily aggregates (store days) that the 数据 page reads."""
