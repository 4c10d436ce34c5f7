from tests.cli.reference import ref  # noqa: F401  (fixtures)
from tests.pod.conftest import busybox, real_stage1  # noqa: F401
