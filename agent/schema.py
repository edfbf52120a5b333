"""The schema version of every JSON document the agent writes, in one place.

Keys may be added to a document without a version change; removing a key or changing its
meaning bumps that document's version (docs/json.md documents each).
"""

from __future__ import annotations

REPORT_SCHEMA_VERSION = 1  # a node's report: agent check / analyze -o json, report.json
EXPLAIN_SCHEMA_VERSION = 1  # agent explain / config -o json, and their load errors
HISTORY_SCHEMA_VERSION = 1  # agent check --history -o json
COLLECT_SCHEMA_VERSION = 1  # agent collect -o json
CHECKLIST_SCHEMA_VERSION = 1  # agent checklist -o json
PLAN_SCHEMA_VERSION = 1  # agent plan -o json
