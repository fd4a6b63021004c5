"""Code generated from proto/users/v1/ (`make proto`); never edited by hand."""
