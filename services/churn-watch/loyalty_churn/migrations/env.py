from loyalty_churn.adapters.orm import Base
from loyalty_platform.migrations import run_env

run_env(Base.metadata)
