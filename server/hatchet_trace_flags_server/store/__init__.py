"""Storage: the tables, migrations (Alembic, in ``migrations``), the database handle, and one module per
table family (rules, discovered tasks, insights, sessions). Imports only ``core`` and the library's contract.
"""
