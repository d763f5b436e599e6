"""The channel desk: a server-rendered web app where the vendor's channel team reads, triages and answers
registrations (``sfsync desk``).

It sits between the command line and the services: it reads registrations and conflicts from the org,
decrypts the partner's fields for authorised users only, checks eligibility, writes decisions back with
optimistic concurrency, and appends every read of decrypted data and every decision to a keyed,
hash-chained audit log.
"""
