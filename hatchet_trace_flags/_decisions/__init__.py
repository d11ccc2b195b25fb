"""Link/parent decisions: ``FlagPredicate`` over any OpenFeature provider, the rule-set providers, the default
wiring from the environment, and the decision counters.
"""
