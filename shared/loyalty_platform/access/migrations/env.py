from loyalty_platform.access.keystore import Base
from loyalty_platform.migrations import run_env

run_env(Base.metadata)
