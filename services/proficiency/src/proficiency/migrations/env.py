from conformity_shared.migrations import run_env

from proficiency.db import metadata

run_env(metadata)
