"""chatshop package."""
