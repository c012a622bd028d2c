from loyalty_platform.migrations import run_env
from loyalty_points.adapters.orm import Base

run_env(Base.metadata)
