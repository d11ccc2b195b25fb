"""What a trigger (run, run_many, schedule, push) writes into a run's metadata and onto its span: the
traceparent, the per-run override, the trigger span's attributes, and bulk-run spans.
"""
