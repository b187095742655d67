"""The Pulumi ComponentResources, and nothing else that imports Pulumi."""
