"""``HatchetInstrumentor``: the wrappers around hatchet-sdk's worker and durable-task paths, where a start
span begins (parent or link), the sampler for linked roots, and the check of hatchet-sdk's signatures.
"""
