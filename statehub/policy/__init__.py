"""Pure policy: settings, gates, the evidence contract, the stage plan, derived names.

No Pulumi import and no I/O beyond reading the files it is pointed at.
"""
