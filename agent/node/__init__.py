"""What the agent needs from the node it runs on: access to its root, a liveness file."""
