"""Kubernetes access: configuration, the HTTP client, publishing reports."""
