"""The platform on one machine: local broker and database, `make run`'s stack, test support.

Development and test tooling only: no service imports it at run time (a test checks it).
"""
