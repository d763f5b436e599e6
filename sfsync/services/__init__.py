"""Services: what sfsync does against an org, built from the domain packages.

Connecting (a real org or a local org file), the conflict scan and the encryption checks against an org,
the offline demo and ``sfsync init``. The command line (``sfsync.cli``) calls these; the domain packages
(``salesforce``, ``portal``, ``crypto``, ``mapping``, ``conflicts``, ``sync``) never import them.
"""
