"""Plans, subscriptions, usage metering, quotas and the Stripe gateway.

Nothing is built here yet: the subscription billing issue fills this package.
"""
