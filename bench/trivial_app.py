"""The baseline for API latency: a FastAPI endpoint that does nothing, served the same way."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
