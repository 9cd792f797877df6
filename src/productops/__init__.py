"""productops: a self-hosted product operations hub.

The Python API lives in each domain's `service` module; the CLI and the web routes are thin
wrappers over it.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
