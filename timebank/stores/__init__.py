"""Love supermarkets: stores, goods, donations, stock and redemption at the counter."""
