"""Throwaway OpenPGP keys made with the real gpg in a temporary GNUPGHOME."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class GpgKey:
    def __init__(self, home: Path, uid: str):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)
        self.uid = uid
        self._gpg("--quick-gen-key", "--passphrase", "", uid, "ed25519", "sign", "never")
        out = self._gpg("--with-colons", "--list-keys", uid).stdout
        self.fingerprint = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))

    def _gpg(self, *args, **kw):
        return subprocess.run(["gpg", "--batch", "--homedir", str(self.home), "--pinentry-mode", "loopback",
                               *args], check=True, capture_output=True, text=True, **kw)

    def export(self, path: Path) -> Path:
        """Write the ASCII-armored public key to `path`."""
        Path(path).write_text(self._gpg("--armor", "--export", self.fingerprint).stdout)
        return Path(path)

    def sign(self, path: Path, out: Path | None = None) -> Path:
        """Detached armored signature of `path`, written to `out` (default PATH.asc)."""
        out = Path(out) if out else Path(f"{path}.asc")
        self._gpg("--yes", "--passphrase", "", "-u", self.fingerprint, "--armor", "--detach-sign",
                  "-o", str(out), str(path))
        return out

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True)
