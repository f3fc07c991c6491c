"""The application layer: every user action, in one place, for HTTP, the web view and the CLI alike.

One module per user: ``agencies`` (submit records), ``practitioners`` (read a child, decide, link,
find), ``pages`` (the web view's page of a child), ``inquiry`` (entries, who looked, the log's state),
``log`` (checkpoints and proofs for anyone), ``admin`` (agencies, keys, tokens). Each use case takes
the caller's ``Principal`` and plain values and returns plain values; it alone decides authorisation
(``permissions``), appends access entries (``children.read_child``), takes the process's write lock
(``writes``) and catches the read models up. The composition root (api/bootstrap.py) builds them.
"""
