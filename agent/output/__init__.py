"""Every document the agent prints, rendered (pure: strings in, strings out; the CLI writes
them). One module per document: ``registries`` (agent explain / config), ``check`` (a
node's report: agent check / analyze, and --history), ``collect`` (the cluster summary),
``checklist``; ``junit`` is the one JUnit XML writer collect and the checklist share, and
``text`` holds the plain-text helpers (aligned tables, short digests, error lines)."""
