"""The State Hub's move to railiance01: one package, in rooms that import downward only.

policy (pure: settings, gates, the evidence contract, the stage plan) <- components (Pulumi
ComponentResources) <- the program (`__main__.py`); policy <- data (the data tools) <- cluster (the
Kubernetes API, status, the tunnel) <- engine (the real Pulumi CLI and a local API server) <- offline
(the program under mocks) <- rehearsal; cli is the scripts' one entry wrapper."""
