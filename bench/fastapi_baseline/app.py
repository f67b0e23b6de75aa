"""The baseline a Python team would deploy for stipple's submit and status endpoints: FastAPI
served by uvicorn, tasks sent to Celery over Redis (broker and result backend). Only what
gateway_submit_bench measures: POST /v1/tasks (validated body, 202 + Location) and
GET /v1/tasks/{id}. No Celery worker runs during the benchmark, so tasks stay queued, as they do
on the stipple side.

Run: BASELINE_REDIS_URL=redis://127.0.0.1:PORT/0 uvicorn app:app --workers 2 --port N
"""
import os
from typing import Optional

from celery import Celery
from celery.result import AsyncResult
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

REDIS_URL = os.environ.get("BASELINE_REDIS_URL", "redis://127.0.0.1:6379/0")
celery_app = Celery("baseline", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.task_track_started = True


@celery_app.task(name="generate")
def generate(request):  # a worker would run the pipeline here
    return {"outputs": []}


class GenerationRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=1000)
    negative_prompt: str = ""
    model: str = "shapes-32"
    width: int = Field(32, ge=8, le=2048)
    height: int = Field(32, ge=8, le=2048)
    steps: int = Field(20, ge=1, le=150)
    guidance_scale: float = Field(4.0, ge=0, le=30)
    scheduler: str = "ddim"
    seed: Optional[int] = Field(None, ge=0, le=4294967295)
    num_images: int = Field(1, ge=1, le=8)
    priority: str = "normal"
    metadata: dict = {}

    class Config:
        extra = "forbid"


STATUS = {"PENDING": "queued", "STARTED": "running", "SUCCESS": "succeeded",
          "FAILURE": "failed", "REVOKED": "canceled", "RETRY": "queued"}

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/v1/tasks", status_code=202)
def create_task(request: GenerationRequest, response: Response):
    result = generate.apply_async(args=[request.dict()])
    response.headers["Location"] = f"/v1/tasks/{result.id}"
    return {"id": result.id, "status": "queued", "request": request.dict()}


@app.get("/v1/tasks/{task_id}")
def get_task(task_id: str):
    result = AsyncResult(task_id, app=celery_app)
    return {"id": task_id, "status": STATUS.get(result.state, "queued")}
