"""Stand-ins for what this project moves but does not own (the State Hub itself), for tests and the rehearsal."""
