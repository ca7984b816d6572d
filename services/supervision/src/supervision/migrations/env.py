from conformity_shared.migrations import run_env

from supervision.db import metadata

run_env(metadata)
