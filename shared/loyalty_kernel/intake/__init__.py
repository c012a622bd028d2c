"""The `purchases` topic as every consuming service reads it: messages translated into
commands, and the rules a purchase or refund must keep to be applied."""
