"""The rule set's storage: its reads (:mod:`.reads`), the transactions that change it (:mod:`.writes`, with
the import's bulk replacement in :mod:`.bulk_entries`), and the time-boxed writes and their reverts
(:mod:`.expiry_writes`)."""
