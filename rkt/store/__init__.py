"""The local image store (`<dir>/cas`): see rkt.store.store for the layout and guarantees."""

from rkt.store.db import ImageInfo
from rkt.store.store import Store, Tree, parse_image_string

__all__ = ["ImageInfo", "Store", "Tree", "parse_image_string"]
