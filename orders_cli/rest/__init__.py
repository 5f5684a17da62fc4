"""The one REST client of orders (weight budget, 429/418 handling, retries)."""

from orders_cli.rest.client import RestClient

__all__ = ["RestClient"]
