"""miniprogram package."""
