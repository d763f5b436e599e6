"""Text rules shared by every domain package: time, company names, domains.

Each rule lives here once; the blind-index normalisers are versioned, because their output is stored.
"""
