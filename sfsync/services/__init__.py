"""Org-facing services: the work behind the commands that talk to Salesforce, the portal and the state store."""
