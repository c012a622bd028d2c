from loyalty_platform.migrations import run_env
from loyalty_rewards.adapters.orm import Base

run_env(Base.metadata)
