"""`users` (python -m users): the service's processes and tools."""

from users.cli import cli


def main() -> None:
    """Run the `users` command line."""
    cli()


if __name__ == "__main__":
    main()
