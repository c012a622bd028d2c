"""Buy-till-you-die models of repeat buying, fitted on per-member summaries.

A member is summarised as `x` repeat purchases, `t_x` the time of the last of them and
`T` the time to the cutoff, both in days from the first purchase (what counts as a
purchase is the caller's choice). In both models a member buys at a rate of their own,
gamma-distributed across members, for as long as they stay. They differ in how members
leave: in BG/NBD (Fader, Hardie & Lee 2005) right after a purchase, with a chance of
their own; in Pareto/NBD (Schmittlein, Morrison & Colombo 1987) at an exponential
moment whose rate is gamma-distributed too.
"""
