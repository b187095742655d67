"""The real engine: the Pulumi CLI and providers built from the Go module proxy, and a local Kubernetes API server."""
