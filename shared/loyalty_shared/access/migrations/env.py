from loyalty_shared.access.keystore import Base
from loyalty_shared.migrations import run_env

run_env(Base.metadata)
