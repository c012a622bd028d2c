"""The platform's pure kernel: event contracts, the loyalty programme and its rules, and
the intake rules every consumer of `purchases` keeps. Nothing here does I/O or imports a
framework, a driver or a broker client (tests/shared/test_purity.py holds it to that)."""
