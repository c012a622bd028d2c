from loyalty_churn.adapters.orm import Base
from loyalty_shared.migrations import run_env

run_env(Base.metadata)
