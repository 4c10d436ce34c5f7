"""rkt in Python: an appc container runtime (stage0)."""

__version__ = "0.1.0"
APPC_VERSION = "0.8.11"
# what `rkt version` reports: the rkt release whose interface this implements, then ours
RKT_VERSION = f"1.30.0+python{__version__}"
