"""The cluster as an operator meets it: the Kubernetes API, the status report, the tunnel."""
