"""Dev-only double of the external mail API, with fault injection and a record of what it sent."""
