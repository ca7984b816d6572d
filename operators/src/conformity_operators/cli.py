"""The `conformity` command (being built)."""


def main() -> None:
    raise SystemExit("conformity: not built yet")
