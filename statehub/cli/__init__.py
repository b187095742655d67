"""What every script shares: one entry wrapper, one error line, exit codes, progress on terminals."""
