"""Pure decisions: signals, classification, VM status, error taxonomy, schedules, placement. No I/O, no clock."""
