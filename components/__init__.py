"""The State Hub migration program: typed settings, pure gates and one ComponentResource per concern."""
