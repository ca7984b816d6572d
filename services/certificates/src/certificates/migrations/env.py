from conformity_shared.migrations import run_env

from certificates.db import metadata

run_env(metadata)
