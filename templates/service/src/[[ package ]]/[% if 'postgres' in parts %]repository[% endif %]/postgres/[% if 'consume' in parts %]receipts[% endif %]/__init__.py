"""The receipts table: the notes the consumer has seen."""
