"""Reading the debug log of an image pull: which sources were tried, in order, and why each failed.

Input is the combined stdout+stderr of ``podman pull --log-level=debug REF`` or
``skopeo --debug inspect --raw docker://REF``, or an excerpt of ``journalctl -u crio``.
The lines that matter are described in docs/pull-resolution.md (the log lines a parser
needs). One module per step, each imported from where it lives:

* :mod:`.model`: what flows out (``Attempt``, ``PullLog``, ``JournalPull``, the Literals);
* :mod:`.lines`: raw text to logrus messages (formats, ANSI codes, CRLF, continuations);
* :mod:`.events`: one pass over those messages: the events that matter, the tool, the final error;
* :mod:`.attempts`: attempts while the log is read and what became of them;
* :mod:`.podman`: ``parse_pull_log``, the log of one pull (podman, skopeo, or CRI-O text);
* :mod:`.crio_journal`: ``parse_crio_journal``, a CRI-O journal grouped into pulls;
* :mod:`.classify`, :mod:`.error_sources`, :mod:`.redact`: error texts;
* pasted text (``agent analyze``): :mod:`.decor` (journal prefixes, cut lines, quoting),
  :mod:`.inferred` (attempts read from an error text, without debug lines),
  :mod:`.pulls` (``parse_pulls``: several pulls in one log, kubelet events).

Pure code: standard library only, no I/O; never raises on any input; linear in the input.
Every error text kept (``Attempt.message``, ``PullLog.final_error``) goes through
:func:`.redact.redact`.
"""
