"""Failures are classified where they happen: a setting at fault is not retried, a transient
cause (the GPU's memory, the network, a busy server) is left to the run's retries."""

import huggingface_hub.errors
import requests
import torch

from whisper_pipeline.core.errors import (
    ConfigurationError,
    PipelineError,
    TransientError,
    is_transient,
)


def wrapped(cause: BaseException, outer: type[BaseException] = OSError) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as error:
            raise outer("could not load the model") from error
    except BaseException as error:
        return error


def test_the_gpu_s_memory_and_the_network_are_transient():
    assert is_transient(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_transient(RuntimeError("CUDA error: out of memory"))
    assert is_transient(requests.exceptions.ConnectionError("Max retries exceeded"))
    assert is_transient(requests.exceptions.ReadTimeout("read timed out"))
    assert is_transient(TimeoutError())
    assert is_transient(wrapped(ConnectionResetError(104, "Connection reset by peer")))
    assert is_transient(OSError("503 Server Error: Service Unavailable for url: https://hf.co"))


def test_a_missing_model_a_wrong_name_or_token_is_not():
    assert not is_transient(OSError("bundled model 'tiny' not found"))
    assert not is_transient(ValueError("Invalid model size 'larg-v3'"))
    assert not is_transient(wrapped(FileNotFoundError("config.json")))
    response = requests.Response()
    response.status_code = 401
    not_found = huggingface_hub.errors.RepositoryNotFoundError(
        "401 Client Error", response=response
    )
    assert not is_transient(not_found)


def test_only_settings_stop_the_retries():
    assert issubclass(ConfigurationError, PipelineError)  # marked not to be retried
    assert not issubclass(TransientError, PipelineError)  # left to Dagster's run retries
