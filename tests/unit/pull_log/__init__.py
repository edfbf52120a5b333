"""Tests for agent.pull.log, a module each; the logs they share: recorded.py, synthetic.py."""
