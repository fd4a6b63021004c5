"""The adapters of the domain's stores."""
