"""The work behind each command, without the command line (typer stays in ``agent.cli``).

``check`` (real pulls on the node), ``analyze`` (a log captured elsewhere), ``history``
(CRI-O's recent pulls), ``collect`` (the cluster's reports), ``daemon`` (``agent run``),
``health`` (its liveness probe), ``checklist`` (the cluster the checklist reads). The
pure pieces they share: ``results`` (a pull's outcome judged into an image result),
``journal`` (CRI-O's journal judged), ``auto`` (images picked from the node's store),
``checks_file`` (the images-file format).
"""
