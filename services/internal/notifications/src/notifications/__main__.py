"""The `notifications` console script (`python -m notifications`)."""

from __future__ import annotations

from notifications.cli import cli


def main() -> None:
    """Run the `notifications` command."""
    cli()


if __name__ == "__main__":
    main()
