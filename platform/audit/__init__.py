"""The audit log: one hash chain per tenant, and one for the control plane."""
