"""Image trust: the store of trusted OpenPGP keys (`keystore`) and signature checks (`verify`).

Nothing here imports gnupg at module load; `rkt run` of a stored image never pays for it.
"""
