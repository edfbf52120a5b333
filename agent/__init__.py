"""mirror-agent: verify that image pulls on a node resolve through the configured mirrors."""

__version__ = "0.1.0"
