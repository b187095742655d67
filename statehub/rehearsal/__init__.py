"""The whole migration rehearsed on this machine: stand-ins, the timeline, the gates it runs."""
