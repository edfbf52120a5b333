"""The node: its paths as the agent sees them, and the settings its container runtime pulls with."""
