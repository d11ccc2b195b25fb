"""Values every layer may use and that import nothing above them: settings, records, request and response
bodies, presenters, ETags, tokens, token buckets, metrics, problem details.
"""
