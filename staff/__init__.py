"""Staff-facing routes: the staff API under /admin/ (orders, refunds, stock, alerts), behind its key."""
