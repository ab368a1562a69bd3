"""Mini-program cards: their images, the thumbnails uploaded to WeChat for them, and making a card the
actions composed sendable on a channel (the store's appid, a thumbnail that account knows)."""
