"""The appc metadata service: pods read their manifests and sign data through it.

Registration (stage0, over the root-only unix socket `/run/rkt/metadata-svc.sock`):
  PUT    /pods/<uuid>?token=<token>   body: the reified pod manifest (JSON)
  PUT    /pods/<uuid>/<app>           body: that app's image manifest (JSON)
  DELETE /pods/<uuid>
Apps reach `$AC_METADATA_URL/acMetadata/v1/...` where AC_METADATA_URL is
`http://<address>:<port>/<token>`; the token (256 random bits, never the UUID) is the only key to
a pod's data, so one pod can never read another's.
"""

import os

DEFAULT_PORT = 18112
DEFAULT_SOCKET = "/run/rkt/metadata-svc.sock"


def socket_path() -> str:
    """The registration socket; RKT_MDS_SOCKET moves it (tests, several services on one host)."""
    return os.environ.get("RKT_MDS_SOCKET", DEFAULT_SOCKET)
