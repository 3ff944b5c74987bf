"""Bronze: the landing zone of raw daily files, and reading them without losing a row."""
