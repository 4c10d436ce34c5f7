"""rkt in Python: an appc container runtime (stage0)."""

__version__ = "0.1.0"
APPC_VERSION = "0.8.11"
