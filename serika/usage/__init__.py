"""Usage records, metering, prices and reports."""
