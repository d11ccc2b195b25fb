"""``AdminServiceProvider`` and its follower: the snapshot, the change stream, task and fan-out reports, the
snapshot kept on disk. Talks to the admin service only through ``hatchet_trace_flags.contract``'s wire facts.
"""
