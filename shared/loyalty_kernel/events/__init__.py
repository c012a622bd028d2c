"""The event contracts: the CloudEvents envelope, the till's input on `purchases`, and
every event the platform publishes, shared by the service that writes it and the ones
that read it."""
