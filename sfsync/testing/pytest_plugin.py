"""pytest fixtures for sfsync users (FakeSalesforce); filled in by the testing module."""
