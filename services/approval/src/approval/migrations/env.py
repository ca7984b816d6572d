from conformity_shared.migrations import run_env

from approval.db import metadata

run_env(metadata)
